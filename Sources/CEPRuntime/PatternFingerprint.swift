import CEPCore

/// The canonical encoding of what a pattern's stored state depends on: its compiled form and the streams it
/// reads, written field by field in a fixed order with fixed tags, and hashed (FNV-1a, 128 bits).
///
/// Why not `String(describing:)` (what fingerprints were until checkpoint fingerprints version 2): that prints Swift
/// property and case names, so renaming one in the code — a refactoring that changes nothing a user wrote — changed
/// every fingerprint and dropped every user's state at the upgrade. Here nothing depends on Swift names: enum
/// cases are written as the numbers below, which must never be renumbered (a new case takes a new number), and a
/// new field is appended where it matters. A test pins the fingerprints of the shipped patterns, so a change of
/// the encoding cannot go unnoticed.
struct CanonicalWriter {
    private var hash = FNV128()

    /// The encoding's version, the first thing hashed: bumping it changes every fingerprint (a documented,
    /// one-time loss of state).
    static let version = "cepd-fingerprint-2"

    init() { string(Self.version) }

    var hex: String { hash.hex }

    mutating func tag(_ value: UInt8) { hash.add(byte: value) }

    mutating func int(_ value: Int64) {
        var v = UInt64(bitPattern: value)
        for _ in 0..<8 {
            hash.add(byte: UInt8(truncatingIfNeeded: v))
            v >>= 8
        }
    }

    mutating func int(_ value: Int) { int(Int64(value)) }

    mutating func bool(_ value: Bool) { tag(value ? 1 : 0) }

    /// A string, with its length first (so that two strings never read as one).
    mutating func string(_ value: String) {
        int(value.utf8.count)
        for byte in value.utf8 { hash.add(byte: byte) }
    }

    mutating func optional<T>(_ value: T?, _ body: (inout CanonicalWriter, T) -> Void) {
        guard let value else { return tag(0) }
        tag(1)
        body(&self, value)
    }

    mutating func array<T>(_ values: [T], _ body: (inout CanonicalWriter, T) -> Void) {
        int(values.count)
        for value in values { body(&self, value) }
    }
}

extension PatternAutomaton {
    /// Everything but where the pattern is written and how its alerts are encoded (the state holds partial
    /// matches, not alerts).
    func canonical(into w: inout CanonicalWriter) {
        w.string(name)
        w.array(bindings) { w, b in b.canonical(into: &w) }
        w.array(keys) { w, k in
            w.int(k.stream)
            w.int(k.field)
        }
        w.array(states) { w, s in s.canonical(into: &w) }
        w.int(start)
        w.array(predicates) { w, e in e.canonical(into: &w) }
        w.array(predicateSteps) { w, s in w.int(s) }
        w.optional(window) { w, v in w.int(v) }
        skip.canonical(into: &w)
        w.optional(emit) { w, o in o.canonical(into: &w) }
        w.optional(timeoutEmit) { w, o in o.canonical(into: &w) }
        bound.canonical(into: &w)
        // Only when present, so that the fingerprints of patterns without it are those stored before it existed.
        if let suppress {
            w.tag(0x53)
            w.int(suppress.duration)
            w.optional(suppress.by) { w, e in e.canonical(into: &w) }
        }
        if !rowSites.isEmpty {
            w.tag(0x52)
            w.array(rowSites) { w, site in
                w.int(site.table)
                site.key.canonical(into: &w)
            }
        }
    }
}

extension BindingSpec {
    func canonical(into w: inout CanonicalWriter) {
        w.string(name)
        w.int(stream)
        switch kind {
        case .single: w.tag(1)
        case .optional: w.tag(2)
        case .multiple: w.tag(3)
        case .negated: w.tag(4)
        }
    }
}

extension NFAState {
    func canonical(into w: inout CanonicalWriter) {
        w.string(name)
        switch kind {
        case .normal: w.tag(1)
        case .final: w.tag(2)
        case .stop: w.tag(3)
        case .pending: w.tag(4)
        }
        w.optional(binding) { w, b in w.int(b) }
        w.array(transitions) { w, t in
            switch t.action {
            case .take: w.tag(1)
            case .ignore: w.tag(2)
            case .proceed: w.tag(3)
            }
            w.int(t.target)
            t.condition.canonical(into: &w)
        }
        w.optional(window) { w, v in w.int(v) }
        w.bool(isGreedy)
    }
}

extension Condition {
    func canonical(into w: inout CanonicalWriter) {
        switch self {
        case .always: w.tag(1)
        case .stream(let s):
            w.tag(2)
            w.int(s)
        case .predicate(let p):
            w.tag(3)
            w.int(p)
        case .not(let c):
            w.tag(4)
            c.canonical(into: &w)
        case .and(let cs):
            w.tag(5)
            w.array(cs) { w, c in c.canonical(into: &w) }
        case .or(let cs):
            w.tag(6)
            w.array(cs) { w, c in c.canonical(into: &w) }
        }
    }
}

extension SkipStrategy {
    func canonical(into w: inout CanonicalWriter) {
        switch self {
        case .noSkip: w.tag(1)
        case .toNext: w.tag(2)
        case .pastLast: w.tag(3)
        case .toFirst(let b):
            w.tag(4)
            w.int(b)
        case .toLast(let b):
            w.tag(5)
            w.int(b)
        }
    }
}

extension OutputSpec {
    func canonical(into w: inout CanonicalWriter) {
        w.string(topic)
        w.array(fields) { w, f in
            w.string(f.name)
            f.value.canonical(into: &w)
        }
    }
}

extension PartialMatchBound {
    func canonical(into w: inout CanonicalWriter) {
        switch self {
        case .constant(let n):
            w.tag(1)
            w.int(n)
        case .perWindow(let startStream, let window, let perStartEvent):
            w.tag(2)
            w.int(startStream)
            w.int(window)
            w.int(perStartEvent)
        case .unbounded(let reason):
            w.tag(3)
            w.string(reason)
        }
    }
}

extension CompiledExpr {
    func canonical(into w: inout CanonicalWriter) {
        switch self {
        case .literal(let value):
            w.tag(1)
            value.canonical(into: &w)
        case .field(let ref):
            w.tag(2)
            ref.canonical(into: &w)
        case .aggregate(let aggregate, let binding, let field):
            w.tag(3)
            // The language's names: they are what a user wrote, and never change under a Swift rename.
            w.string(aggregate.languageName)
            w.int(binding)
            w.optional(field) { w, f in w.int(f) }
        case .unary(let op, let e):
            w.tag(4)
            w.string(op == .negate ? "-" : "not")
            e.canonical(into: &w)
        case .binary(let op, let l, let r):
            w.tag(5)
            w.string(op.languageName)
            l.canonical(into: &w)
            r.canonical(into: &w)
        case .inList(let e, let list, let negated):
            w.tag(6)
            e.canonical(into: &w)
            w.array(list) { w, item in item.canonical(into: &w) }
            w.bool(negated)
        case .call(let function, let args):
            w.tag(7)
            w.string(function.languageName)
            w.array(args) { w, a in a.canonical(into: &w) }
        case .lookup(let table, let key, let field):
            w.tag(8)
            w.int(table)
            w.int(field)
            key.canonical(into: &w)
        case .row(let site, let field):
            w.tag(9)
            w.int(site)
            w.int(field)
        }
    }
}

extension FieldRef {
    func canonical(into w: inout CanonicalWriter) {
        switch source {
        case .current: w.tag(1)
        case .binding(let b):
            w.tag(2)
            w.int(b)
        }
        w.int(field)
    }
}

extension Value {
    func canonical(into w: inout CanonicalWriter) {
        switch self {
        case .string(let s):
            w.tag(1)
            w.string(s)
        case .int(let i):
            w.tag(2)
            w.int(i)
        case .float(let d):
            w.tag(3)
            w.int(Int64(bitPattern: d.bitPattern))
        case .bool(let b):
            w.tag(4)
            w.bool(b)
        case .time(let t):
            w.tag(5)
            w.int(t)
        case .duration(let d):
            w.tag(6)
            w.int(d)
        case .null: w.tag(7)
        }
    }
}

extension StreamSpec {
    /// Everything but where the stream is written, how its events are encoded (a state of decoded values stays
    /// valid when a topic moves from JSON to Protobuf, or its schema gains a field) and which fields other patterns
    /// read.
    func canonical(into w: inout CanonicalWriter) {
        w.string(name)
        w.string(topic)
        w.array(fields) { w, f in
            w.array(f.path) { w, part in w.string(part) }
            w.string(f.type.languageName)
            w.bool(f.isOptional)
        }
        w.int(keyField)
        w.optional(timeField) { w, t in w.int(t) }
        w.int(lateness)
        w.optional(filter) { w, e in e.canonical(into: &w) }
        if isTable { w.tag(0x54) }
    }
}

// The language's spellings, written out rather than taken from raw values: several raw values are implicit (the
// Swift case name), and a rename must not change a fingerprint.

extension Aggregate {
    var languageName: String {
        switch self {
        case .count: "count"
        case .sum: "sum"
        case .avg: "avg"
        case .min: "min"
        case .max: "max"
        case .first: "first"
        case .last: "last"
        }
    }
}

extension BinaryOp {
    var languageName: String {
        switch self {
        case .or: "or"
        case .and: "and"
        case .equal: "=="
        case .notEqual: "!="
        case .less: "<"
        case .lessEqual: "<="
        case .greater: ">"
        case .greaterEqual: ">="
        case .coalesce: "??"
        case .add: "+"
        case .subtract: "-"
        case .multiply: "*"
        case .divide: "/"
        case .remainder: "%"
        }
    }
}

extension Function {
    var languageName: String {
        switch self {
        case .lower: "lower"
        case .upper: "upper"
        case .length: "length"
        case .contains: "contains"
        case .startsWith: "starts_with"
        case .endsWith: "ends_with"
        case .substring: "substring"
        case .abs: "abs"
        case .round: "round"
        case .floor: "floor"
        case .ceil: "ceil"
        case .distanceKm: "distance_km"
        case .exists: "exists"
        }
    }
}

extension FieldType {
    var languageName: String {
        switch self {
        case .string: "string"
        case .int: "int"
        case .float: "float"
        case .bool: "bool"
        case .time: "time"
        }
    }
}
