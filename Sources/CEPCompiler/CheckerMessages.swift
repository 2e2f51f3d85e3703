import CEPSyntax

/// The checker's diagnostics. Please keep them in alphabetical order.
extension DiagnosticMessage {
    static func absenceWithoutWithin(_ name: String) -> Self {
        .init(
            id: "absence-without-within",
            "absence at the end ('not \(name)') needs a 'within' that says how long to wait")
    }
    static func aggregateOnSingleBinding(_ function: String, _ name: String) -> Self {
        .init(id: "aggregate-on-single-binding", "'\(function)' needs a quantified step, but '\(name)' binds one event")
    }
    static func alertFieldMissing(_ field: String, _ file: String) -> Self {
        .init(
            id: "alert-field-missing",
            "the alert schema '\(file)' has a field '\(field)' that nothing emits and that cannot be null")
    }
    static var alertProtobufNotRegistrable: Self {
        .init(
            id: "alert-protobuf-not-registrable",
            "cepd cannot register a Protobuf alert schema: a registry takes the .proto text, and cepd has only the descriptor set"
        )
    }
    static var alertRegistryNotSupported: Self {
        .init(
            id: "alert-registry-not-supported",
            "alerts need their schema as a file: cepd registers it (as avro \"alert.avsc\" registry)")
    }
    static func alertSchemaField(_ field: String, _ file: String) -> Self {
        .init(id: "alert-schema-field", "the alert schema '\(file)' has no field '\(field)'")
    }
    static func alertSchemaType(_ field: String, _ type: String, _ schemaType: String, _ file: String) -> Self {
        .init(
            id: "alert-schema-type",
            "output field '\(field)' is a '\(type)', which the field of type '\(schemaType)' in '\(file)' cannot take")
    }
    static func allStepsOptional(_ name: String) -> Self {
        .init(
            id: "all-steps-optional",
            "every step of pattern '\(name)' is optional; as in Flink CEP, a match still needs an event (no empty match)",
            severity: .warning)
    }
    static func bindingNotAValue(_ name: String) -> Self {
        .init(id: "binding-not-a-value", "'\(name)' is a step, not a value")
    }
    static func bindingUsedBeforeBound(_ name: String) -> Self {
        .init(id: "binding-used-before-bound", "'\(name)' is used before its step binds it")
    }
    static func binaryKeyAsText(_ kind: String) -> Self {
        .init(
            id: "binary-key-as-text",
            "with 'format @key \(kind)' the message key is not text: '@key' cannot be read as a string")
    }
    static func combinations(_ name: String) -> Self {
        .init(
            id: "combinations",
            "'\(name)' takes every combination of its events ('any'): a key's partial matches can double with each one",
            severity: .warning)
    }
    static func conditionNotBool(_ clause: String, _ type: String) -> Self {
        .init(id: "condition-not-bool", "'\(clause)' condition must be 'bool', not '\(type)'")
    }
    static func conflictingModifiers(_ a: String, _ b: String) -> Self {
        .init(id: "conflicting-modifiers", "'\(a)' and '\(b)' cannot both apply to one quantifier")
    }
    static func duplicateBinding(_ name: String) -> Self {
        .init(id: "duplicate-binding", "step name '\(name)' is used twice in one pattern")
    }
    static func duplicateField(_ name: String) -> Self {
        .init(id: "duplicate-field", "field '\(name)' is declared twice")
    }
    static func duplicateOutputField(_ name: String) -> Self {
        .init(id: "duplicate-output-field", "output field '\(name)' is given twice")
    }
    static func duplicatePattern(_ name: String) -> Self {
        .init(id: "duplicate-pattern", "pattern '\(name)' is declared twice")
    }
    static func duplicateStream(_ name: String) -> Self {
        .init(id: "duplicate-stream", "stream '\(name)' is declared twice")
    }
    static func emptyTopic() -> Self {
        .init(id: "empty-topic", "a topic name cannot be empty")
    }
    static func fieldConflict(_ name: String, _ other: String) -> Self {
        .init(id: "field-conflict", "field '\(name)' cannot be both a value and the parent of '\(other)'")
    }
    static func formatConflict(_ topic: String, _ format: String, _ other: String) -> Self {
        .init(id: "format-conflict", "topic '\(topic)' is read as \(format) here and as \(other) by another stream")
    }
    static func formatNeedsMessage(_ file: String) -> Self {
        .init(id: "format-needs-message", "which message of '\(file)' does the topic carry?")
    }
    static func formatNeedsSchema(_ kind: String) -> Self {
        .init(id: "format-needs-schema", "format \(kind) needs a schema")
    }
    static var formatTakesNoMessage: Self {
        .init(id: "format-takes-no-message", "'message' names a Protocol Buffers message; Avro has none")
    }
    static func formatTakesNoSchema(_ kind: String) -> Self {
        .init(id: "format-takes-no-schema", "format \(kind) takes no schema")
    }
    static func incompatibleComparison(_ lhs: String, _ op: String, _ rhs: String) -> Self {
        .init(id: "incompatible-comparison", "cannot compare '\(lhs)' \(op) '\(rhs)'")
    }
    static func invalidGreedy(_ reason: String) -> Self {
        .init(id: "invalid-greedy", reason)
    }
    static func invalidKeyType(_ name: String, _ type: String) -> Self {
        .init(id: "invalid-key-type", "key field '\(name)' must be 'string' or 'int', not '\(type)'")
    }
    static func invalidNegation(_ reason: String) -> Self {
        .init(id: "invalid-negation", reason)
    }
    static func invalidOperand(_ op: String, _ types: String) -> Self {
        .init(id: "invalid-operand", "operator '\(op)' cannot be applied to \(types)")
    }
    static func invalidSkip(_ reason: String) -> Self {
        .init(id: "invalid-skip", reason)
    }
    static func invalidTopic(_ reason: String) -> Self {
        .init(id: "invalid-topic", reason)
    }
    static func invalidEnvelopeType(_ name: String, _ type: String, _ expected: String) -> Self {
        .init(id: "invalid-envelope-type", "'\(name)' of the Kafka message is a '\(expected)', not a '\(type)'")
    }
    static func invalidTimeType(_ name: String, _ type: String) -> Self {
        .init(id: "invalid-time-type", "time field '\(name)' must have type 'time', not '\(type)'")
    }
    static func invalidWithin() -> Self {
        .init(id: "invalid-within", "'within' must be longer than 0ms")
    }
    static func invalidSuppress() -> Self {
        .init(id: "invalid-suppress", "'suppress' must be longer than 0ms")
    }
    static func keyTypeMismatch(_ stream: String, _ type: String, _ other: String, _ otherType: String) -> Self {
        .init(
            id: "key-type-mismatch",
            "stream '\(stream)' is keyed by '\(type)' but '\(other)' by '\(otherType)'; one pattern joins keys of one type"
        )
    }
    static func listTypeMismatch(_ element: String, _ value: String) -> Self {
        .init(id: "list-type-mismatch", "list element of type '\(element)' cannot match a value of type '\(value)'")
    }
    static func lookupInFilter() -> Self {
        .init(
            id: "lookup-in-filter", "a stream's 'where' cannot look up a table; look it up in a pattern step's 'where'")
    }
    static func lookupKeyType(_ table: String, _ keyType: String, _ found: String) -> Self {
        .init(id: "lookup-key-type", "table '\(table)' is keyed by a '\(keyType)', but this key is a '\(found)'")
    }
    static func lookupNotATable(_ name: String) -> Self {
        .init(id: "lookup-not-a-table", "'\(name)' is not a table")
    }
    static func lookupWithoutWithin(_ name: String) -> Self {
        .init(
            id: "lookup-without-within",
            "pattern '\(name)' looks up a table but has no 'within'; the window bounds how long old rows are kept")
    }
    static func missingEmit(_ name: String) -> Self {
        .init(id: "missing-emit", "pattern '\(name)' has no 'emit' or 'on timeout emit', so its matches go nowhere")
    }
    static func missingKey(_ name: String) -> Self {
        .init(id: "missing-key", "stream '\(name)' has no 'key'")
    }
    static func missingMatch(_ name: String) -> Self {
        .init(id: "missing-match", "pattern '\(name)' has no 'match'")
    }
    static func modifierWithoutQuantifier(_ modifier: String) -> Self {
        .init(id: "modifier-without-quantifier", "'\(modifier)' applies only to a step with a quantifier")
    }
    static func negatedBindingOutOfScope(_ name: String) -> Self {
        .init(
            id: "negated-binding-out-of-scope",
            "'\(name)' is a negation and never binds an event; use it only in its own condition")
    }
    static func optionalKey(_ name: String) -> Self {
        .init(id: "optional-key", "key field '\(name)' cannot be optional")
    }
    static func possiblyUnbound(_ field: String, _ binding: String) -> Self {
        .init(
            id: "possibly-unbound",
            "output '\(field)' reads '\(binding)', which may be unbound; the alert then carries null",
            severity: .warning)
    }
    static func quantifiedBindingNeedsAggregate(_ name: String) -> Self {
        .init(id: "quantified-needs-aggregate", "'\(name)' binds several events; read it through an aggregate")
    }
    static func redundantOptional(_ quantifier: String) -> Self {
        .init(
            id: "redundant-optional", "'\(quantifier) optional': the quantifier allows no event already",
            severity: .warning)
    }
    static func reservedOutputField(_ name: String) -> Self {
        .init(id: "reserved-output-field", "output field '\(name)' is reserved: names starting with '_' belong to cepd")
    }
    static func rowNotAValue(_ table: String) -> Self {
        .init(id: "row-not-a-value", "a row of table '\(table)' is not a value; read one of its fields")
    }
    static func schemaFieldProblem(_ field: String, _ problem: String, _ file: String) -> Self {
        .init(id: "schema-field", "field '\(field)' is not in the schema '\(file)': \(problem)")
    }
    static func schemaInvalid(_ file: String, _ what: String, _ reason: String) -> Self {
        .init(id: "schema-invalid", "'\(file)' is not \(what): \(reason)")
    }
    static func schemaTypeMismatch(_ field: String, _ schemaType: String, _ type: String, _ file: String) -> Self {
        .init(
            id: "schema-type-mismatch",
            "field '\(field)' has type '\(schemaType)' in '\(file)', which cannot be read as '\(type)'")
    }
    static func schemaUnreadable(_ file: String, _ reason: String) -> Self {
        .init(id: "schema-unreadable", "cannot read the schema '\(file)': \(reason)")
    }
    static func sharedTopicWithoutFilter(_ name: String, _ topic: String) -> Self {
        .init(
            id: "shared-topic-without-filter",
            "stream '\(name)' shares topic \"\(topic)\" with another stream but has no 'where' filter, so it takes every event",
            severity: .warning)
    }
    static func suppressWithoutEmit(_ name: String) -> Self {
        .init(
            id: "suppress-without-emit",
            "pattern '\(name)' suppresses alerts but has no 'emit'; 'suppress' applies to matches, not timeouts")
    }
    static func suppressWithoutWithin(_ name: String) -> Self {
        .init(
            id: "suppress-without-within",
            "pattern '\(name)' has 'suppress' but no 'within'; the window bounds how long a suppression is remembered")
    }
    static func tableAsStep(_ name: String) -> Self {
        .init(id: "table-as-step", "'\(name)' is a table: its rows are looked up, not matched")
    }
    static func tableTopicShared(_ table: String, _ topic: String) -> Self {
        .init(
            id: "table-topic-shared",
            "table '\(table)' reads topic '\(topic)', which another stream or table reads too; a table owns its topic")
    }
    static func typeMismatch(_ expected: String, _ found: String) -> Self {
        .init(id: "type-mismatch", "expected '\(expected)', found '\(found)'")
    }
    static func unboundedQuantifier(_ name: String) -> Self {
        .init(
            id: "unbounded-quantifier",
            "'\(name)' has no upper bound, no 'until' and no 'within': its partial matches grow with every matching event and are never released",
            severity: .warning)
    }
    static func unboundedState(_ name: String) -> Self {
        .init(
            id: "unbounded-state",
            "pattern '\(name)' has no 'within': partial matches that never complete are kept forever",
            severity: .warning)
    }
    static func unknownBinding(_ name: String) -> Self {
        .init(id: "unknown-binding", "no step named '\(name)' in this pattern")
    }
    static func unknownEnvelopeField(_ name: String) -> Self {
        .init(id: "unknown-envelope-field", "'\(name)' is not a field of the Kafka message")
    }
    static func unknownField(_ name: String, _ stream: String, kind: String = "stream") -> Self {
        .init(id: "unknown-field", "\(kind) '\(stream)' has no field '\(name)'")
    }
    static func unknownFormat(_ name: String) -> Self {
        .init(id: "unknown-format", "'\(name)' is not a format")
    }
    static func unknownFunction(_ name: String) -> Self {
        .init(id: "unknown-function", "no function named '\(name)'")
    }
    static func unknownMessage(_ name: String, _ file: String) -> Self {
        .init(id: "unknown-message", "'\(file)' has no message '\(name)'")
    }
    static func unknownStream(_ name: String) -> Self {
        .init(id: "unknown-stream", "no stream named '\(name)'")
    }
    static func unknownType(_ name: String) -> Self {
        .init(id: "unknown-type", "'\(name)' is not a type; use string, int, float, bool or time")
    }
    static func untilWithoutLoop(_ name: String) -> Self {
        .init(
            id: "until-without-loop", "'until' on '\(name)' needs a quantifier without upper bound ('+', '*' or '{n,}')"
        )
    }
    static func wrongArgumentCount(_ name: String, _ expected: String, _ found: Int) -> Self {
        .init(id: "wrong-argument-count", "'\(name)' takes \(expected), but \(found) given")
    }
}
