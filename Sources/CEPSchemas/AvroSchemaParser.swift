public import CEPRuntime
import Foundation

/// Parses an Avro schema in its JSON form (an `.avsc` file, or a registry's answer).
public enum AvroSchemaParser {
    /// Why a text is not a usable Avro schema.
    public struct Invalid: Error, CustomStringConvertible {
        /// One line for humans.
        public var description: String
    }

    /// The schema in `text`; its top-level type must be a record (an event is one).
    public static func parse(_ text: [UInt8]) throws(Invalid) -> AvroSchema {
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(text), options: [.fragmentsAllowed])
        } catch {
            throw Invalid(description: "not JSON (\((error as NSError).localizedDescription))")
        }
        var parser = Parser()
        let root = try parser.type(json, namespace: "", depth: 0)
        guard case .record = root else {
            throw Invalid(description: "the schema is a \(root.kindName), not a record (an event is a record)")
        }
        return AvroSchema(root: root)
    }

    private struct Parser {
        /// Named types defined so far, by full name; nil while a record is being defined (a reference to it then
        /// is recursive).
        var named: [String: AvroType?] = [:]

        mutating func type(_ json: Any, namespace: String, depth: Int) throws(Invalid) -> AvroType {
            guard depth < 64 else { throw Invalid(description: "types nested deeper than 64") }
            switch json {
            case let name as String: return try reference(name, namespace: namespace)
            case let branches as [Any]:
                var types: [AvroType] = []
                for branch in branches {
                    let type = try type(branch, namespace: namespace, depth: depth + 1)
                    if case .union = type { throw Invalid(description: "a union inside a union") }
                    types.append(type)
                }
                guard !types.isEmpty else { throw Invalid(description: "an empty union") }
                return .union(types)
            case let object as [String: Any]: return try complex(object, namespace: namespace, depth: depth)
            default: throw Invalid(description: "a type must be a name, a list (a union) or an object")
            }
        }

        private func primitive(_ name: String) -> AvroType? {
            switch name {
            case "null": return .null
            case "boolean": return .boolean
            case "int": return .int
            case "long": return .long
            case "float": return .float
            case "double": return .double
            case "bytes": return .bytes
            case "string": return .string
            default: return nil
            }
        }

        private func reference(_ name: String, namespace: String) throws(Invalid) -> AvroType {
            if let type = primitive(name) { return type }
            let full = Self.fullName(name, namespace: namespace)
            for candidate in [full, name] {
                guard let entry = named[candidate] else { continue }
                guard let type = entry else {
                    throw Invalid(description: "'\(candidate)' refers to itself (recursive types are not supported)")
                }
                return type
            }
            throw Invalid(description: "unknown type '\(name)'")
        }

        private static func fullName(_ name: String, namespace: String) -> String {
            name.contains(".") || namespace.isEmpty ? name : namespace + "." + name
        }

        private mutating func define(_ object: [String: Any], namespace: String) throws(Invalid) -> (
            full: String, namespace: String
        ) {
            guard let name = object["name"] as? String, !name.isEmpty else {
                throw Invalid(description: "a \(object["type"] as? String ?? "named type") without a 'name'")
            }
            let space = (object["namespace"] as? String) ?? namespace
            let full = Self.fullName(name, namespace: space)
            if named[full] != nil { throw Invalid(description: "type '\(full)' is defined twice") }
            named[full] = .some(nil)
            let inner = full.contains(".") ? String(full[..<full.lastIndex(of: ".")!]) : ""
            return (full, inner)
        }

        private mutating func complex(_ object: [String: Any], namespace: String, depth: Int) throws(Invalid)
            -> AvroType
        {
            guard let kind = object["type"] else { throw Invalid(description: "a type object without 'type'") }
            guard let kindName = kind as? String else {
                // {"type": {...}} or {"type": [...]}: a wrapped type.
                return try type(kind, namespace: namespace, depth: depth + 1)
            }
            switch kindName {
            case "record", "error":
                let (full, inner) = try define(object, namespace: namespace)
                guard let list = object["fields"] as? [Any] else {
                    throw Invalid(description: "record '\(full)' has no 'fields' list")
                }
                var fields: [AvroRecordField] = []
                for item in list {
                    guard let field = item as? [String: Any], let name = field["name"] as? String,
                        let fieldType = field["type"]
                    else {
                        throw Invalid(description: "record '\(full)': a field needs a 'name' and a 'type'")
                    }
                    if fields.contains(where: { $0.name == name }) {
                        throw Invalid(description: "record '\(full)': field '\(name)' is defined twice")
                    }
                    fields.append(
                        AvroRecordField(name: name, type: try type(fieldType, namespace: inner, depth: depth + 1)))
                }
                let type = AvroType.record(AvroRecord(name: full, fields: fields))
                named[full] = .some(type)
                return type
            case "enum":
                let (full, _) = try define(object, namespace: namespace)
                guard let symbols = object["symbols"] as? [String], !symbols.isEmpty else {
                    throw Invalid(description: "enum '\(full)' has no 'symbols' list")
                }
                let type = AvroType.enumeration(name: full, symbols: symbols)
                named[full] = .some(type)
                return type
            case "fixed":
                let (full, _) = try define(object, namespace: namespace)
                guard let size = (object["size"] as? NSNumber)?.intValue, size >= 0 else {
                    throw Invalid(description: "fixed '\(full)' has no 'size'")
                }
                let type = AvroType.fixed(name: full, size: size)
                named[full] = .some(type)
                return type
            case "array":
                guard let items = object["items"] else { throw Invalid(description: "an array without 'items'") }
                return .array(try type(items, namespace: namespace, depth: depth + 1))
            case "map":
                guard let values = object["values"] else { throw Invalid(description: "a map without 'values'") }
                return .map(try type(values, namespace: namespace, depth: depth + 1))
            default:
                let base = try reference(kindName, namespace: namespace)
                // Logical types the decoder converts; others read as their underlying type (as Avro says a
                // reader that does not know one must).
                switch (object["logicalType"] as? String, base) {
                case ("timestamp-millis", .long), ("local-timestamp-millis", .long): return .timestampMillis
                case ("timestamp-micros", .long), ("local-timestamp-micros", .long): return .timestampMicros
                default: return base
                }
            }
        }
    }
}
