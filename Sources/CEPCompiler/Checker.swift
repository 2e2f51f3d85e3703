import CEPCore
import CEPRuntime
import CEPSyntax

/// Name resolution and type checking of a set of `.cep` files, producing the typed pieces that
/// `NFABuilder` lowers to an automaton. Every problem becomes a diagnostic; none stops the checker.
struct Checker {
    let sources: SourceManager
    /// Where the schema files of `format` clauses are read.
    let schemaFiles: SchemaFiles
    var diagnostics = DiagnosticBag()

    /// A declared stream and the lookup tables the checker derives from it.
    struct StreamInfo {
        var decl: StreamDecl
        var fields: [FieldSpec] = []
        var fieldIndex: [String: Int] = [:]
        var fieldDecls: [FieldDecl] = []
        var keyField: Int?
        var timeField: Int?
        var filter: CompiledExpr?
        var format: EventFormat = .json
        var keyFormat: EventFormat = .json
    }

    /// A step of the pattern being checked.
    struct BindingInfo {
        var name: Identifier
        var stream: Int?
        var kind: BindingSpec.Kind
    }

    var streams: [StreamInfo] = []
    var streamByName: [String: Int] = [:]
    var usedFields: Set<[Int]> = []
    /// The pattern being checked: the tables it looks up, and the rows its alerts read.
    var patternTables: Set<Int> = []
    var patternRowSites: [RowSite] = []

    init(sources: SourceManager, schemaFiles: SchemaFiles) {
        self.sources = sources
        self.schemaFiles = schemaFiles
    }

    func location(_ range: SourceRange) -> String {
        let file = sources[range.file]
        return "\(file.path):\(file.location(of: range.start).line)"
    }

    // MARK: - Streams

    mutating func declareStreams(_ files: [FileSyntax]) {
        var topics: [String: [Int]] = [:]
        for file in files {
            for case .stream(let decl) in file.declarations {
                if let existing = streamByName[decl.name.name] {
                    diagnostics.report(
                        .duplicateStream(decl.name.name), at: decl.name.range,
                        notes: [DiagnosticNote("first declared here", at: streams[existing].decl.name.range)])
                    continue
                }
                streamByName[decl.name.name] = streams.count
                topics[decl.topic.value, default: []].append(streams.count)
                streams.append(StreamInfo(decl: decl))
            }
        }
        for index in streams.indices { checkStream(index) }
        for (topic, sharing) in topics where sharing.count > 1 {
            // A table is every message of its topic, a tombstone included: no filter can share it out.
            let tables = sharing.filter { streams[$0].decl.isTable }
            for index in tables {
                let other = streams[sharing.first { $0 != index }!].decl
                diagnostics.report(
                    .tableTopicShared(streams[index].decl.name.name, topic), at: streams[index].decl.topic.range,
                    notes: [DiagnosticNote("'\(other.name.name)' reads it here", at: other.topic.range)])
            }
            if !tables.isEmpty { continue }
            // One topic, one encoding: a decoder reads each message once for all the streams that share it.
            let first = streams[sharing[0]]
            for index in sharing.dropFirst()
            where streams[index].format != first.format || streams[index].keyFormat != first.keyFormat {
                diagnostics.report(
                    .formatConflict(topic, streams[index].format.description, first.format.description),
                    at: streams[index].decl.format?.range ?? streams[index].decl.name.range,
                    notes: [DiagnosticNote("stream '\(first.decl.name.name)' reads it here", at: first.decl.name.range)]
                )
            }
            for index in sharing where streams[index].decl.filter == nil {
                let decl = streams[index].decl
                diagnostics.report(
                    .sharedTopicWithoutFilter(decl.name.name, topic), at: decl.name.range,
                    help:
                        "select this stream's events with 'stream \(decl.name.name) from \"\(topic)\" where type == \"...\"'"
                )
            }
        }
    }

    private mutating func checkStream(_ index: Int) {
        let decl = streams[index].decl
        checkTopic(decl.topic)
        var fields: [FieldSpec] = []
        var fieldIndex: [String: Int] = [:]
        var fieldDecls: [FieldDecl] = []
        for field in decl.fields {
            let dotted = field.path.dotted
            if let existing = fieldIndex[dotted] {
                diagnostics.report(
                    .duplicateField(dotted), at: field.path.range,
                    notes: [DiagnosticNote("first declared here", at: fieldDecls[existing].path.range)])
                continue
            }
            let type: FieldType
            if let known = FieldType(rawValue: field.typeName.name) {
                type = known
            } else {
                diagnostics.report(
                    .unknownType(field.typeName.name), at: field.typeName.range,
                    help: Suggestions.help(for: field.typeName.name, in: FieldType.allCases.map(\.rawValue)))
                // Still declare the field (as a string), so that its uses do not report it as unknown too.
                type = .string
            }
            // A path cannot be both a leaf and the parent of another declared path (except the message key: its
            // text and the members of it as JSON are both there).
            let readsKey = EnvelopeField(path: field.path.components.map(\.name))?.readsKey == true
            for (other, otherIndex) in fieldIndex where !(readsKey && fields[otherIndex].path.first == "@key") {
                if other.hasPrefix(dotted + ".") || dotted.hasPrefix(other + ".") {
                    let (parent, child) = other.count < dotted.count ? (other, dotted) : (dotted, other)
                    diagnostics.report(
                        .fieldConflict(parent, child), at: field.path.range,
                        notes: [DiagnosticNote("'\(other)' declared here", at: fieldDecls[otherIndex].path.range)])
                }
            }
            let path = field.path.components.map(\.name)
            if EnvelopeField.isEnvelopePath(path) {
                if let envelope = EnvelopeField(path: path) {
                    if let expected = envelope.type, type != expected {
                        diagnostics.report(
                            .invalidEnvelopeType(dotted, type.rawValue, expected.rawValue), at: field.typeName.range,
                            help: "declare it '\(dotted): \(expected.rawValue)\(field.isOptional ? "?" : "")'")
                    }
                } else {
                    diagnostics.report(
                        .unknownEnvelopeField(dotted), at: field.path.range,
                        help:
                            "the message's fields are \(EnvelopeField.names) (a header name that is not an identifier in quotes: @header.\"x-tenant\")"
                    )
                }
            }
            fieldIndex[dotted] = fields.count
            fields.append(FieldSpec(path: path, type: type, isOptional: field.isOptional, isUsed: false))
            fieldDecls.append(field)
        }
        // `key @key` and `time @timestamp` need no declaration in 'fields': their type is the envelope's.
        for case let path? in [decl.key, decl.time] where fieldIndex[path.dotted] == nil {
            guard let envelope = EnvelopeField(path: path.components.map(\.name)),
                envelope == .key || envelope == .timestamp,
                let type = envelope.type
            else { continue }
            fieldIndex[path.dotted] = fields.count
            fields.append(FieldSpec(path: [path.dotted], type: type, isOptional: false, isUsed: false))
            fieldDecls.append(
                FieldDecl(
                    path: path, typeName: Identifier(type.rawValue, range: path.range), isOptional: false,
                    typeRange: path.range))
        }
        streams[index].fields = fields
        streams[index].fieldIndex = fieldIndex
        streams[index].fieldDecls = fieldDecls
        streams[index].format = checkFormat(index)
        streams[index].keyFormat = checkFormat(index, ofKey: true)
        // A declared trace context is always read: alerts carry the last matched event's on (AlertFormatter).
        if let trace = fieldIndex["@header.traceparent"] { markUsed(stream: index, field: trace) }

        if let key = decl.key {
            if let f = resolveDeclaredField(key, stream: index) {
                streams[index].keyField = f
                markUsed(stream: index, field: f)
                if fields[f].type != .string && fields[f].type != .int {
                    diagnostics.report(.invalidKeyType(key.dotted, fields[f].type.rawValue), at: key.range)
                } else if fields[f].isOptional {
                    diagnostics.report(
                        .optionalKey(key.dotted), at: key.range,
                        help:
                            "declare it '\(key.dotted): \(fields[f].type.rawValue)'; events without it go to the dead-letter output"
                    )
                }
            }
        } else {
            diagnostics.report(
                .missingKey(decl.name.name), at: decl.name.range,
                help: "name the field that correlates events, e.g. 'key user'")
        }
        if let time = decl.time, let f = resolveDeclaredField(time, stream: index) {
            streams[index].timeField = f
            markUsed(stream: index, field: f)
            if fields[f].type != .time {
                diagnostics.report(
                    .invalidTimeType(time.dotted, fields[f].type.rawValue), at: time.range,
                    help: "declare it '\(time.dotted): time' (epoch milliseconds or an RFC 3339 string)")
            }
        }
        if let filter = decl.filter {
            var scope = ExpressionScope(kind: .filter(stream: index), bindings: [])
            let (compiled, type) = check(filter, in: &scope)
            requireBool(type, clause: "where", at: filter.range)
            streams[index].filter = compiled
        }
    }

    /// Resolves a path in a stream's own declaration (key, time, partition by).
    mutating func resolveDeclaredField(_ path: FieldPath, stream: Int) -> Int? {
        if let f = streams[stream].fieldIndex[path.dotted] { return f }
        let name = streams[stream].decl.name.name
        let kind = streams[stream].decl.isTable ? "table" : "stream"
        diagnostics.report(
            .unknownField(path.dotted, name, kind: kind), at: path.range,
            help: Suggestions.help(for: path.dotted, in: streams[stream].fieldIndex.keys)
                ?? "declare it in the 'fields' block of stream '\(name)'")
        return nil
    }

    mutating func markUsed(stream: Int, field: Int) {
        usedFields.insert([stream, field])
    }

    mutating func requireBool(_ type: ExprType, clause: String, at range: SourceRange) {
        if !type.isError && type.base != .bool {
            diagnostics.report(.conditionNotBool(clause, type.description), at: range)
        }
    }

    /// The runtime stream specs, with each field's `isUsed` set from what the patterns read.
    func streamSpecs() -> [StreamSpec] {
        streams.enumerated().map { index, info in
            var fields = info.fields
            for f in fields.indices { fields[f].isUsed = usedFields.contains([index, f]) }
            var spec = StreamSpec(
                name: info.decl.name.name, topic: info.decl.topic.value, fields: fields, keyField: info.keyField ?? 0,
                timeField: info.timeField, lateness: info.decl.lateness?.value ?? 0, filter: info.filter,
                location: location(info.decl.name.range), format: info.format)
            spec.keyFormat = info.keyFormat
            spec.isTable = info.decl.isTable
            return spec
        }
    }
}
