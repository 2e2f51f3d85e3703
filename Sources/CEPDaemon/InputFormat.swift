import ArgumentParser
import CEPRuntime
import Foundation

/// How `cepd run` reads a line of an input file (`--input-format`).
enum InputFormat: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// Each line is a message value: a JSON object. No key, timestamp or headers.
    case json
    /// Each line is a message as `kcat -C -J` writes it: `{"topic":..,"partition":..,"offset":..,"ts":..,
    /// "headers":["name","value",...],"key":"..","payload":".."}`, so that a topic dumped with kcat replays with
    /// its keys, timestamps and headers (`@key`, `@timestamp`, `@header.NAME`, `@partition`, `@offset`).
    case kcat

    /// A kcat line taken apart: the value to decode and its envelope.
    struct Message {
        var payload: [UInt8]?
        var envelope: MessageEnvelope
    }

    /// Reads one kcat `-J` line; the reason when it is not one.
    static func kcatMessage(_ line: UnsafeBufferPointer<UInt8>) -> Result<Message, DecodeFailure> {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
            return .failure(DecodeFailure(reason: "not a kcat -J line: not a JSON object"))
        }
        func integer(_ name: String) -> Int64? { (object[name] as? NSNumber).map { $0.int64Value } }
        func text(_ name: String) -> [UInt8]?? {
            switch object[name] {
            case nil, is NSNull: return .some(nil)
            case let string as String: return .some(Array(string.utf8))
            default: return nil
            }
        }
        guard let partition = integer("partition"), let offset = integer("offset"),
            let partition32 = Int32(exactly: partition)
        else {
            return .failure(DecodeFailure(reason: "not a kcat -J line: no numeric 'partition' and 'offset'"))
        }
        guard let key = text("key"), let payload = text("payload") else {
            return .failure(DecodeFailure(reason: "not a kcat -J line: 'key' and 'payload' must be strings or null"))
        }
        var headers: [String: [UInt8]?] = [:]
        if let list = object["headers"] {
            guard let items = list as? [Any], items.count % 2 == 0 else {
                return .failure(
                    DecodeFailure(reason: "not a kcat -J line: 'headers' must be a list of names and values"))
            }
            for i in stride(from: 0, to: items.count, by: 2) {
                guard let name = items[i] as? String else {
                    return .failure(DecodeFailure(reason: "not a kcat -J line: a header name that is not a string"))
                }
                headers[name] = (items[i + 1] as? String).map { Array($0.utf8) }
            }
        }
        let envelope = MessageEnvelope(
            key: key, timestamp: integer("ts"), partition: partition32, offset: offset, headers: headers)
        return .success(Message(payload: payload, envelope: envelope))
    }
}
