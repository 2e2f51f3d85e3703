import CEPCore
import CEPRuntime
import CEPSchemas
import CEPSyntax

/// The `format` clause: the schema file is read and every declared field is looked up in it, so that a field the
/// schema lacks, or has with another type, is reported at its declaration rather than at the first message.
extension Checker {
    /// A format clause with its schema read: what `checkFormat` and the alerts' `as` clause work from.
    enum LoadedFormat {
        case json
        case avro(AvroSchema, path: String, text: String)
        case protobuf(ProtoSchema, message: String, path: String)
        case registry(RegistryFormat)
    }

    /// The stream's format (or, with `ofKey`, its message keys' format), checked against its declared fields
    /// (`@key.PATH` ones for the key); `.json` after an error (reported).
    mutating func checkFormat(_ index: Int, ofKey: Bool = false) -> EventFormat {
        guard let format = ofKey ? streams[index].decl.keyFormat : streams[index].decl.format,
            let loaded = loadFormat(format)
        else { return .json }
        // The paths the format reads: the value's fields, or the members of the key.
        let select: ([String]) -> [String]? = { path in
            if ofKey {
                guard case .keyMember(let members)? = EnvelopeField(path: path) else { return nil }
                return members
            }
            return EnvelopeField.isEnvelopePath(path) ? nil : path
        }
        let isJSON = if case .json = loaded { true } else { false }
        if ofKey && !isJSON, let whole = streams[index].fields.firstIndex(where: { $0.path == ["@key"] }) {
            diagnostics.report(
                .binaryKeyAsText(format.kind.name), at: streams[index].fieldDecls[whole].path.range,
                help: "read the key's fields instead: @key.NAME")
        }
        switch loaded {
        case .json: return .json
        case .registry(let registry):
            // The schemas come with the messages (by id): the declared fields are checked against the first one a
            // topic meets (cepd stops with status 2 if it does not fit) and every new one after it.
            return .registry(registry)
        case .avro(let schema, let path, _):
            checkFields(index, schemaPath: path, select: select) { path in
                switch schema.resolve(path) {
                case .success(let chain): return .success(chain.last!.type.description)
                case .failure(let problem): return .failure(Self.describe(problem))
                }
            } accepts: { path, type in
                (try? schema.resolve(path).get())?.last?.type.accepts(type) ?? true
            }
            return .avro(schema)
        case .protobuf(let schema, let message, let path):
            checkFields(index, schemaPath: path, select: select) { path in
                switch schema.resolve(path, in: message) {
                case .success(let chain): return .success(chain.last!.typeDescription)
                case .failure(let problem): return .failure(Self.describe(problem))
                }
            } accepts: { path, type in
                (try? schema.resolve(path, in: message).get())?.last?.accepts(type) ?? true
            }
            return .protobuf(schema: schema, message: message)
        }
    }

    /// Reads the schema a format clause names; nil after an error (reported).
    mutating func loadFormat(_ format: FormatDecl) -> LoadedFormat? {
        let kind = format.kind.name
        switch kind {
        case "json":
            if let extra = format.schema?.range ?? format.registry ?? format.message?.range {
                diagnostics.report(
                    .formatTakesNoSchema("json"), at: extra, help: "JSON needs no schema: write 'json' alone")
            }
            return .json
        case "protobuf", "avro":
            break
        default:
            diagnostics.report(
                .unknownFormat(kind), at: format.kind.range,
                help: Suggestions.help(for: kind, in: ["json", "protobuf", "avro"])
                    ?? "the formats are json, protobuf and avro")
            return nil
        }
        if kind == "avro", let message = format.message {
            diagnostics.report(
                .formatTakesNoMessage, at: message.range,
                help: "an Avro schema names its record itself: format avro \"schema.avsc\"")
        }
        if let registry = format.registry {
            if format.schema == nil {
                return .registry(kind == "avro" ? .avro : .protobuf(message: format.message?.dotted))
            }
            // A schema file and `registry`: only alerts register their schema (checkAlertFormat takes it off).
            diagnostics.report(
                .formatTakesNoSchema("\(kind) registry"), at: registry,
                help: "the writer schemas come from the registry by id: 'format \(kind) registry'")
            return nil
        }
        guard let schemaPath = format.schema else {
            diagnostics.report(
                .formatNeedsSchema(kind), at: format.range,
                help: kind == "avro"
                    ? "name the writer schema: format avro \"payment.avsc\""
                    : "name a descriptor set (protoc --include_imports --descriptor_set_out=fraud.desc) and the message: format protobuf \"fraud.desc\" message fraud.v1.Login"
            )
            return nil
        }
        let bytes: [UInt8]
        do {
            bytes = try schemaFiles.read(schemaPath.value, besides: sources[schemaPath.range.file].path)
        } catch {
            diagnostics.report(.schemaUnreadable(schemaPath.value, error.description), at: schemaPath.range)
            return nil
        }
        if kind == "avro" {
            do throws(AvroSchemaParser.Invalid) {
                return .avro(
                    try AvroSchemaParser.parse(bytes), path: schemaPath.value,
                    text: String(decoding: bytes, as: UTF8.self))
            } catch {
                diagnostics.report(
                    .schemaInvalid(schemaPath.value, "an Avro schema", error.description), at: schemaPath.range)
                return nil
            }
        }
        let schema: ProtoSchema
        do throws(ProtoDescriptorSet.Invalid) {
            schema = try ProtoDescriptorSet.schema(from: bytes)
        } catch {
            diagnostics.report(
                .schemaInvalid(schemaPath.value, "a descriptor set", error.description), at: schemaPath.range,
                help: "write one with protoc --include_imports --descriptor_set_out=\(schemaPath.value) FILE.proto")
            return nil
        }
        let names = schema.messages.map(\.fullName)
        guard let named = format.message else {
            diagnostics.report(
                .formatNeedsMessage(schemaPath.value), at: format.range,
                help: "add 'message NAME', one of: \(Self.list(names))")
            return nil
        }
        guard schema.message(named.dotted) != nil else {
            diagnostics.report(
                .unknownMessage(named.dotted, schemaPath.value), at: named.range,
                help: Suggestions.help(for: named.dotted, in: names) ?? "its messages: \(Self.list(names))")
            return nil
        }
        return .protobuf(schema, message: named.dotted, path: schemaPath.value)
    }

    /// The encoding of an `emit ... as FORMAT` clause, its output fields checked against the schema: each must be
    /// a field of it that can take the value (a value that may be null needs an Avro union with null), and an
    /// Avro field no output fills must take null. Nil for JSON, or after an error (reported).
    mutating func checkAlertFormat(
        _ format: FormatDecl, fields: [(name: Identifier, type: ExprType)], clause: SourceRange
    ) -> (encoding: AlertEncoding, registration: String?)? {
        // `as avro "alert.avsc" registry`: the file's schema, registered (its id goes into each alert).
        var file = format
        if format.schema != nil { file.registry = nil }
        guard let loaded = loadFormat(file) else { return nil }
        let written = fields.filter { !$0.name.name.hasPrefix("@") && !$0.type.isError }
        switch loaded {
        case .json: return nil
        case .registry:
            diagnostics.report(
                .alertRegistryNotSupported, at: format.range,
                help: "name the schema to register: as avro \"alert.avsc\" registry")
            return nil
        case .avro(let schema, let path, let text):
            guard case .record(let record) = schema.root else { return nil }
            for field in written {
                guard let target = record.field(named: field.name.name) else {
                    diagnostics.report(
                        .alertSchemaField(field.name.name, path), at: field.name.range,
                        help: Suggestions.help(for: field.name.name, in: record.fields.map(\.name))
                            ?? "its fields: \(Self.list(record.fields.map(\.name)))")
                    continue
                }
                if !AlertEncoding.avroAccepts(
                    target.type, field.type.fieldType, duration: field.type.base == .duration,
                    nullable: field.type.isOptional)
                {
                    diagnostics.report(
                        .alertSchemaType(field.name.name, field.type.description, target.type.description, path),
                        at: field.name.range,
                        help: field.type.isOptional
                            ? "a value that may be null needs a union with null in the schema, or a default: '?? ...'"
                            : Self.alertTypeHelp)
                }
            }
            for target in record.fields where !fields.contains(where: { $0.name.name == target.name }) {
                if case .union(let branches) = target.type, branches.contains(.null) { continue }  // written null
                diagnostics.report(
                    .alertFieldMissing(target.name, path), at: clause, help: "emit '\(target.name): ...'")
            }
            return (.avro(schema), format.registry != nil ? text : nil)
        case .protobuf(let schema, let message, let path):
            if let registry = format.registry {
                diagnostics.report(
                    .alertProtobufNotRegistrable, at: registry,
                    help: "register the .proto file with the registry's own tools, or write the alerts in Avro")
            }
            let targets = schema.message(message)?.fields ?? []
            for field in written {
                guard let target = targets.first(where: { $0.name == field.name.name }) else {
                    diagnostics.report(
                        .alertSchemaField(field.name.name, path), at: field.name.range,
                        help: Suggestions.help(for: field.name.name, in: targets.map(\.name))
                            ?? "its fields: \(Self.list(targets.map(\.name)))")
                    continue
                }
                if !AlertEncoding.protobufAccepts(target, field.type.fieldType, duration: field.type.base == .duration)
                {
                    diagnostics.report(
                        .alertSchemaType(field.name.name, field.type.description, target.typeDescription, path),
                        at: field.name.range, help: Self.alertTypeHelp)
                }
            }
            return (.protobuf(schema, message: message), nil)
        }
    }

    private static let alertTypeHelp =
        "an output value goes to: string (string, bytes), int (Avro long, double, float; Protobuf int64, sint64, "
        + "sfixed64, double, float), float (double, float), bool (boolean), time (long, timestamp-millis/micros; "
        + "int64, google.protobuf.Timestamp), duration (long; int64)"

    /// Looks every declared field `select` picks (giving its path in the schema) up with `resolve`, which gives the
    /// schema's type of the field or what is wrong with the path.
    private mutating func checkFields(
        _ index: Int, schemaPath: String, select: ([String]) -> [String]?,
        resolve: ([String]) -> Result<String, PathProblem>,
        accepts: ([String], FieldType) -> Bool
    ) {
        for (f, field) in streams[index].fields.enumerated() {
            guard let path = select(field.path) else { continue }
            let decl = streams[index].fieldDecls[f]
            switch resolve(path) {
            case .success(let schemaType):
                if !accepts(path, field.type) {
                    diagnostics.report(
                        .schemaTypeMismatch(field.dotted, schemaType, field.type.rawValue, schemaPath),
                        at: decl.typeName.range,
                        help: Self.typeHelp(schemaType))
                }
            case .failure(let problem):
                diagnostics.report(
                    .schemaFieldProblem(field.dotted, problem.message, schemaPath), at: decl.path.range,
                    help: problem.help)
            }
        }
    }

    /// What is wrong with a declared path, and what to write instead.
    struct PathProblem: Error {
        var message: String
        var help: String?
    }

    private static func describe(_ problem: ProtoPathProblem) -> PathProblem {
        switch problem {
        case .missing(_, let name, let message, let available):
            return PathProblem(
                message: "message \(message) has no field '\(name)'",
                help: Suggestions.help(for: name, in: available) ?? "its fields: \(list(available))")
        case .notAMessage(let prefix):
            return PathProblem(message: "'\(joined(prefix))' is not a message, so it has no fields", help: nil)
        case .isMessage(let path, let members):
            let dotted = joined(path)
            return PathProblem(
                message: "'\(dotted)' is a message, not a value",
                help: "declare one of its fields: \(list(members.map { dotted + "." + $0 }))")
        case .repeated(let path):
            return PathProblem(
                message: "'\(joined(path))' is repeated (or a map): an event field holds one value",
                help: "filter or key on a scalar field instead")
        case .typeMissing(let path, let type):
            return PathProblem(
                message: "the type of '\(joined(path))', \(type), is not in the descriptor set",
                help: "write the set with the files it imports: protoc --include_imports --descriptor_set_out=...")
        }
    }

    private static func describe(_ problem: AvroPathProblem) -> PathProblem {
        switch problem {
        case .missing(_, let name, let record, let available):
            return PathProblem(
                message: "record \(record) has no field '\(name)'",
                help: Suggestions.help(for: name, in: available) ?? "its fields: \(list(available))")
        case .notARecord(let prefix, let type):
            return PathProblem(
                message: "'\(joined(prefix))' is a \(type), not a record, so it has no fields", help: nil)
        case .isRecord(let path, let members):
            let dotted = joined(path)
            return PathProblem(
                message: "'\(dotted)' is a record, not a value",
                help: "declare one of its fields: \(list(members.map { dotted + "." + $0 }))")
        }
    }

    private static func joined(_ path: [String]) -> String { path.isEmpty ? "at the top" : path.joined(separator: ".") }

    private static func list(_ names: [String]) -> String {
        names.count > 12 ? names.prefix(12).joined(separator: ", ") + ", ..." : names.joined(separator: ", ")
    }

    private static func typeHelp(_ schemaType: String) -> String {
        "the declared type must fit the schema's: string (string, bytes, enum), int (integers, enum numbers), "
            + "float (any number), bool, time (epoch-millisecond integers, Timestamp, timestamp-millis/micros, "
            + "RFC 3339 strings)"
    }
}
