public import CEPRuntime
import SwiftProtobuf

/// Reads a `FileDescriptorSet` (what `protoc --include_imports --descriptor_set_out=FILE` writes) into the
/// messages and enums cepd decodes with.
public enum ProtoDescriptorSet {
    /// Why a file is not a usable descriptor set.
    public struct Invalid: Error, CustomStringConvertible {
        /// One line for humans.
        public var description: String
    }

    /// The schema of every file in the set.
    public static func schema(from bytes: [UInt8]) throws(Invalid) -> ProtoSchema {
        let set: Google_Protobuf_FileDescriptorSet
        do {
            set = try Google_Protobuf_FileDescriptorSet(serializedBytes: bytes)
        } catch {
            throw Invalid(description: "not a protobuf FileDescriptorSet (\(error))")
        }
        guard !set.file.isEmpty else { throw Invalid(description: "the descriptor set holds no file") }
        return schema(of: set.file)
    }

    /// A schema registry's Protobuf schema: `main` and the files it imports, each a serialized `FileDescriptorProto`
    /// (what `GET /schemas/ids/{id}?format=serialized` answers, base64-decoded), with the messages of `main` in
    /// declaration order for the wire format's message indexes.
    public static func registrySchema(main: [UInt8], imports: [[UInt8]]) throws(Invalid) -> RegistrySchema {
        var files: [Google_Protobuf_FileDescriptorProto] = []
        for (n, bytes) in ([main] + imports).enumerated() {
            do {
                files.append(try Google_Protobuf_FileDescriptorProto(serializedBytes: bytes))
            } catch {
                throw Invalid(
                    description:
                        "\(n == 0 ? "the schema" : "an imported schema") is not a serialized FileDescriptorProto (\(error))"
                )
            }
        }
        let prefix = files[0].package.isEmpty ? "" : files[0].package + "."
        func tree(_ message: Google_Protobuf_DescriptorProto, prefix: String) -> ProtoMessageTree {
            ProtoMessageTree(
                name: prefix + message.name,
                nested: message.nestedType.map { tree($0, prefix: prefix + message.name + ".") })
        }
        return .protobuf(schema(of: files), messages: files[0].messageType.map { tree($0, prefix: prefix) })
    }

    private static func schema(of files: [Google_Protobuf_FileDescriptorProto]) -> ProtoSchema {
        var messages: [ProtoMessage] = []
        var enums: [ProtoEnum] = []
        for file in files {
            let prefix = file.package.isEmpty ? "" : file.package + "."
            // proto3 fields have no presence unless marked 'optional', in a oneof, or messages; proto2 and
            // editions (whose default is explicit presence) fields all have it.
            let implicit = file.syntax == "proto3"
            for message in file.messageType {
                collect(message, prefix: prefix, implicit: implicit, into: &messages, enums: &enums)
            }
            for enumeration in file.enumType { enums.append(enumType(enumeration, prefix: prefix)) }
        }
        return ProtoSchema(messages: messages, enums: enums)
    }

    private static func collect(
        _ message: Google_Protobuf_DescriptorProto, prefix: String, implicit: Bool, into messages: inout [ProtoMessage],
        enums: inout [ProtoEnum]
    ) {
        let fullName = prefix + message.name
        var fields: [ProtoField] = []
        for field in message.field {
            // (protoc never writes a number outside 1...2^29-1; a hand-made set could, and the decoder's plans take
            // numbers as unsigned: such a field is left out, so a declared path to it reads as missing.)
            guard let kind = ProtoFieldKind(field.type), (1...536_870_911).contains(field.number) else { continue }
            let repeated = field.label == .repeated
            let presence =
                !repeated
                && (!implicit || kind == .message || kind == .group || field.proto3Optional || field.hasOneofIndex)
            fields.append(
                ProtoField(
                    name: field.name, number: field.number, kind: kind,
                    typeName: field.typeName.hasPrefix(".") ? String(field.typeName.dropFirst()) : field.typeName,
                    isRepeated: repeated, hasPresence: presence))
        }
        messages.append(ProtoMessage(fullName: fullName, fields: fields))
        for nested in message.nestedType {
            collect(nested, prefix: fullName + ".", implicit: implicit, into: &messages, enums: &enums)
        }
        for enumeration in message.enumType { enums.append(enumType(enumeration, prefix: fullName + ".")) }
    }

    private static func enumType(_ enumeration: Google_Protobuf_EnumDescriptorProto, prefix: String) -> ProtoEnum {
        ProtoEnum(
            fullName: prefix + enumeration.name,
            values: enumeration.value.map { ProtoEnumValue(name: $0.name, number: $0.number) })
    }
}

extension ProtoFieldKind {
    /// The kind of a descriptor's field type.
    init?(_ type: Google_Protobuf_FieldDescriptorProto.TypeEnum) {
        switch type {
        case .double: self = .double
        case .float: self = .float
        case .int64: self = .int64
        case .uint64: self = .uint64
        case .int32: self = .int32
        case .fixed64: self = .fixed64
        case .fixed32: self = .fixed32
        case .bool: self = .bool
        case .string: self = .string
        case .group: self = .group
        case .message: self = .message
        case .bytes: self = .bytes
        case .uint32: self = .uint32
        case .enum: self = .enumeration
        case .sfixed32: self = .sfixed32
        case .sfixed64: self = .sfixed64
        case .sint32: self = .sint32
        case .sint64: self = .sint64
        }
    }
}
