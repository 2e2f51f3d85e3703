import CEPCompiler
import CEPCore
import CEPRuntime
import CEPSchemas
import CEPSyntax
import Foundation
import SwiftProtobuf
import Testing

/// Protocol Buffers and Avro messages (issue 19): the schema file read by the compiler, declared fields checked
/// against it, and messages decoded into the declared fields by cepd's own wire decoders. The messages here are
/// written byte by byte (`Wire`), so that each test says exactly what is on the wire; Tests/EndToEnd/formats.sh
/// checks the same decoders against the official encoders.
@Suite struct BinaryFormatTests {
    // MARK: - Protocol Buffers

    /// `t.v1.Event` and friends, as protoc would describe them (a FileDescriptorSet, built with swift-protobuf).
    static let descriptorSet: [UInt8] = {
        func field(
            _ name: String, _ number: Int32, _ type: Google_Protobuf_FieldDescriptorProto.TypeEnum,
            _ typeName: String = "",
            repeated: Bool = false, proto3Optional: Bool = false
        ) -> Google_Protobuf_FieldDescriptorProto {
            var f = Google_Protobuf_FieldDescriptorProto()
            f.name = name
            f.number = number
            f.type = type
            if !typeName.isEmpty { f.typeName = typeName }
            f.label = repeated ? .repeated : .optional
            if proto3Optional {
                f.proto3Optional = true
                f.oneofIndex = 0
            }
            return f
        }
        var timestampFile = Google_Protobuf_FileDescriptorProto()
        timestampFile.name = "google/protobuf/timestamp.proto"
        timestampFile.package = "google.protobuf"
        timestampFile.syntax = "proto3"
        var timestamp = Google_Protobuf_DescriptorProto()
        timestamp.name = "Timestamp"
        timestamp.field = [field("seconds", 1, .int64), field("nanos", 2, .int32)]
        timestampFile.messageType = [timestamp]

        var file = Google_Protobuf_FileDescriptorProto()
        file.name = "t.proto"
        file.package = "t.v1"
        file.syntax = "proto3"
        file.dependency = ["google/protobuf/timestamp.proto"]
        var kind = Google_Protobuf_EnumDescriptorProto()
        kind.name = "Kind"
        kind.value = [("KIND_UNSPECIFIED", 0), ("LOGIN", 1), ("PAYMENT", 2)].map { name, number in
            var value = Google_Protobuf_EnumValueDescriptorProto()
            value.name = name
            value.number = Int32(number)
            return value
        }
        var device = Google_Protobuf_DescriptorProto()
        device.name = "Device"
        device.field = [field("id", 1, .string), field("kind", 2, .enum, ".t.v1.Kind")]
        var event = Google_Protobuf_DescriptorProto()
        event.name = "Event"
        event.field = [
            field("user", 1, .string), field("n", 2, .int64), field("delta", 3, .sint32), field("amount", 4, .double),
            field("ratio", 5, .float), field("flag", 6, .bool), field("kind", 7, .enum, ".t.v1.Kind"),
            field("at", 8, .message, ".google.protobuf.Timestamp"), field("device", 9, .message, ".t.v1.Device"),
            field("note", 10, .string, proto3Optional: true), field("tags", 11, .string, repeated: true),
            field("big", 12, .fixed64), field("huge", 13, .uint64),
        ]
        var oneof = Google_Protobuf_OneofDescriptorProto()
        oneof.name = "_note"
        event.oneofDecl = [oneof]
        file.messageType = [event, device]
        file.enumType = [kind]
        var set = Google_Protobuf_FileDescriptorSet()
        set.file = [timestampFile, file]
        return try! set.serializedBytes()
    }()

    static let protoSource = """
        stream s from "t" {
          format protobuf "events.desc" message t.v1.Event
          key user
          time at
          fields {
            user: string, n: int, delta: int, amount: float, ratio: float, flag: bool, kind: string, at: time,
            device.id: string?, device.kind: int?, note: string?, big: int, huge: int?
          }
        }
        pattern p { match a: s emit to "o" {
          user: a.user, n: a.n, delta: a.delta, amount: a.amount, ratio: a.ratio, flag: a.flag, kind: a.kind,
          device: a.device.id, device_kind: a.device.kind, note: a.note, big: a.big, huge: a.huge } }
        """

    static let files = SchemaFiles.memory(["events.desc": descriptorSet, "payment.avsc": Array(avroSchema.utf8)])

    func decoder(_ source: String) throws -> EventDecoder {
        let compilation = Compiler.compile(path: "p.cep", text: source, schemaFiles: Self.files)
        #expect(compilation.diagnostics.isEmpty, "\(compilation.diagnostics.map(\.message))")
        let automaton = try #require(compilation.automaton)
        return EventDecoder(automaton: automaton, topic: "t")
    }

    func decode(_ decoder: EventDecoder, _ bytes: [UInt8]) -> Result<[Value], DecodeFailure> {
        let outcome = bytes.withUnsafeBufferPointer {
            decoder.decode($0, origin: EventOrigin(topic: "t", partition: 0, offset: 0), sourceRank: 0)
        }
        switch outcome {
        case .failure(let failure): return .failure(failure)
        case .event(let event): return .success(Array(event.fields))
        case .events(let events): return .success(events.first.map { Array($0.fields) } ?? [])
        }
    }

    /// The declared fields, in declaration order, as the test reads them.
    func fields(_ result: Result<[Value], DecodeFailure>) -> [Value]? { try? result.get() }
    func reason(_ result: Result<[Value], DecodeFailure>) -> String? {
        if case .failure(let failure) = result { return failure.reason }
        return nil
    }

    static func timestamp(_ ms: Int64) -> Wire {
        var t = Wire()
        t.varint(1, UInt64(ms / 1000))
        t.varint(2, UInt64((ms % 1000) * 1_000_000))
        return t
    }

    @Test func protobufFieldsOfEveryKindAreRead() throws {
        let decoder = try decoder(Self.protoSource)
        var m = Wire()
        m.bytes(1, "alice")
        m.varint(20, 99)  // unknown fields of every wire type are skipped
        m.varint(2, 7)
        m.varint(2, UInt64(bitPattern: -42))  // the last of a repeated scalar wins
        m.varint(3, Wire.zigzag(-3))
        m.fixed64(4, (1234.5).bitPattern)
        m.fixed32(5, Float(0.25).bitPattern)
        m.bytes(21, "skipped")
        m.varint(6, 1)
        m.varint(7, 2)
        m.fixed32(22, 5)
        m.message(8, Self.timestamp(1_767_225_600_123))
        m.group(24) {
            $0.varint(1, 5)
            $0.bytes(2, "in a group")
        }
        var device = Wire()
        device.bytes(1, "d1")
        device.varint(2, 1)
        m.message(9, device)
        m.fixed64(12, 1 << 40)
        m.varint(13, UInt64(Int64.max))
        let values = try #require(fields(decode(decoder, m.bytes)))
        #expect(
            values == [
                .string("alice"), .int(-42), .int(-3), .float(1234.5), .float(0.25), .bool(true), .string("PAYMENT"),
                .time(1_767_225_600_123), .string("d1"), .int(1), .null, .int(1 << 40), .int(Int64.max),
            ])
    }

    @Test func absentProtobufFieldsReadAsTheirDefaultsOrAsAbsent() throws {
        let decoder = try decoder(Self.protoSource)
        // Only the time: proto3 scalars read as their defaults (the enum's as its name), the optional note and
        // the fields of the absent device as absent.
        var m = Wire()
        m.message(8, Self.timestamp(5_000))
        #expect(
            fields(decode(decoder, m.bytes)) == [
                .string(""), .int(0), .int(0), .float(0), .float(0), .bool(false), .string("KIND_UNSPECIFIED"),
                .time(5_000), .null, .null, .null, .int(0), .int(0),
            ])
        // A device that is there but empty: its fields read as their defaults; an explicitly empty note is "".
        m.message(9, Wire())
        m.bytes(10, "")
        let values = try #require(fields(decode(decoder, m.bytes)))
        #expect(values[8] == .string("") && values[9] == .int(0) && values[10] == .string(""))
        // A message without its Timestamp has no event time.
        #expect(reason(decode(decoder, [])) == "field 'at': missing")
    }

    @Test func corruptProtobufMessagesAreDeadLettersWithTheirReason() throws {
        let decoder = try decoder(Self.protoSource)
        var good = Wire()
        good.bytes(1, "alice")
        good.message(8, Self.timestamp(5_000))
        for cut in 1..<good.bytes.count {
            let reason = reason(decode(decoder, Array(good.bytes.prefix(cut))))
            // Protocol Buffers have no end marker: cut between two fields, the message is whole, without its time.
            let expected = cut == 7 ? "field 'at': missing" : "invalid protobuf t.v1.Event message at byte"
            #expect(reason?.hasPrefix(expected) == true, "cut at \(cut): \(String(describing: reason))")
        }
        var wrongWire = Wire()
        wrongWire.varint(1, 5)  // user is a string, not a varint
        #expect(reason(decode(decoder, wrongWire.bytes))?.contains("field 'user' (1) has wire type 0") == true)
        var unknownEnum = Wire()
        unknownEnum.message(8, Self.timestamp(5_000))
        unknownEnum.varint(7, 9)
        #expect(reason(decode(decoder, unknownEnum.bytes))?.contains("field 'kind': enum value 9 has no name") == true)
        var tooBig = Wire()
        tooBig.message(8, Self.timestamp(5_000))
        tooBig.varint(13, UInt64.max)
        #expect(
            reason(decode(decoder, tooBig.bytes))
                == "field 'huge': the integer is out of the 64-bit range (1.8446744073709552e+19)")
        var badText = Wire()
        badText.raw(1, [0xC3, 0x28])
        #expect(reason(decode(decoder, badText.bytes))?.contains("field 'user': invalid UTF-8") == true)
        #expect(reason(decode(decoder, [0x7F]))?.contains("invalid wire type 7") == true)
        #expect(reason(decode(decoder, [0x0F]))?.contains("field 'user' (1) has wire type 7") == true)
        #expect(reason(decode(decoder, [0x00, 0x01]))?.contains("field number 0 is out of range") == true)
    }

    // MARK: - Avro

    static let avroSchema = """
        {"type": "record", "name": "Payment", "namespace": "pay",
         "fields": [
           {"name": "user", "type": "string"},
           {"name": "tags", "type": {"type": "array", "items": "string"}},
           {"name": "amount", "type": "double"},
           {"name": "currency", "type": {"type": "enum", "name": "Currency", "symbols": ["EUR", "USD"]}},
           {"name": "attrs", "type": {"type": "map", "values": "long"}},
           {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
           {"name": "note", "type": ["null", "string"]},
           {"name": "card", "type": {"type": "record", "name": "Card", "fields": [
              {"name": "bin", "type": "int"}, {"name": "hash", "type": {"type": "fixed", "name": "H", "size": 4}},
              {"name": "country", "type": "string"}]}},
           {"name": "count", "type": "int"},
           {"name": "ok", "type": "boolean"},
           {"name": "ratio", "type": "float"}
         ]}
        """

    static let avroSource = """
        stream s from "t" {
          format avro "payment.avsc"
          key user
          time ts
          fields { user: string, amount: float, currency: string, ts: time, note: string?, card.country: string,
                   count: float, ok: bool, ratio: float }
        }
        pattern p { match a: s emit to "o" { user: a.user, amount: a.amount, currency: a.currency, note: a.note,
          country: a.card.country, count: a.count, ok: a.ok, ratio: a.ratio } }
        """

    static func payment(note: String?, tags: [String] = ["a", "b"], blockSizes: Bool = false) -> Avro {
        var d = Avro()
        d.string("alice")
        if tags.isEmpty {
            // No block: only the terminating zero count below.
        } else if blockSizes {
            // An array block with a negative count carries its size in bytes: skipped whole.
            var block = Avro()
            for tag in tags { block.string(tag) }
            d.long(-Int64(tags.count))
            d.long(Int64(block.bytes.count))
            d.bytes += block.bytes
        } else {
            d.long(Int64(tags.count))
            for tag in tags { d.string(tag) }
        }
        d.long(0)
        d.double(99.5)
        d.long(1)  // USD
        d.long(1)
        d.string("k")
        d.long(7)
        d.long(0)
        d.long(1_767_225_600_123_456)  // micros
        if let note {
            d.long(1)
            d.string(note)
        } else {
            d.long(0)
        }
        d.long(4111)
        d.bytes += [1, 2, 3, 4]
        d.string("DE")
        d.long(3)
        d.bytes.append(1)
        d.bytes += Float(0.5).bitPattern.littleEndianBytes
        return d
    }

    @Test func avroFieldsAreReadInTheWritersOrder() throws {
        let decoder = try decoder(Self.avroSource)
        let expected: [Value] = [
            .string("alice"), .float(99.5), .string("USD"), .time(1_767_225_600_123), .string("hi"), .string("DE"),
            .float(3), .bool(true), .float(0.5),
        ]
        #expect(fields(decode(decoder, Self.payment(note: "hi").bytes)) == expected)
        #expect(fields(decode(decoder, Self.payment(note: "hi", blockSizes: true).bytes)) == expected)
        var withoutNote = expected
        withoutNote[4] = .null
        #expect(fields(decode(decoder, Self.payment(note: nil, tags: []).bytes)) == withoutNote)
    }

    /// Found by FuzzBinaryEvents: the smallest long as timestamp-micros overflowed the floor division.
    @Test func timestampMicrosAtTheEndsOfTheLong() throws {
        let schema =
            #"{"type":"record","name":"R","fields":[{"name":"k","type":"string"},{"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}}]}"#
        let files = SchemaFiles.memory(["r.avsc": Array(schema.utf8)])
        let source = #"stream s from "t" { format avro "r.avsc" key k time ts fields { k: string, ts: time } }"#
        let decoder = EventDecoder(
            automaton: try #require(Compiler.compile(path: "p.cep", text: source, schemaFiles: files).automaton),
            topic: "t")
        for (micros, ms) in [
            (Int64.min, Int64.min / 1000 - 1), (Int64.max, Int64.max / 1000), (-1, -1), (-1000, -1), (-1001, -2),
        ] {
            var d = Avro()
            d.string("k")
            d.long(micros)
            #expect(fields(decode(decoder, d.bytes))?.last == .time(ms), "\(micros) µs")
        }
    }

    @Test func corruptAvroDataAreDeadLettersWithTheirReason() throws {
        let decoder = try decoder(Self.avroSource)
        let good = Self.payment(note: "hi").bytes
        for cut in 0..<good.count {
            let reason = reason(decode(decoder, Array(good.prefix(cut))))
            #expect(
                reason?.hasPrefix("invalid avro pay.Payment datum at byte") == true,
                "cut at \(cut): \(String(describing: reason))")
        }
        #expect(reason(decode(decoder, good + [0]))?.contains("1 bytes after the datum") == true)
        var badEnum = Avro()
        badEnum.string("alice")
        badEnum.long(0)
        badEnum.double(1)
        badEnum.long(5)
        #expect(reason(decode(decoder, badEnum.bytes))?.contains("enum symbol 5 of 2") == true)
        var nulls = Avro()
        nulls.string("alice")
        nulls.long(1 << 40)  // 2^40 items announced in a few bytes
        #expect(reason(decode(decoder, nulls.bytes))?.contains("items announced") == true)
    }

    // MARK: - Schema registry (the Confluent wire format)

    /// Schemas by id from memory, counting lookups.
    final class MemoryRegistry: RegistrySchemas, @unchecked Sendable {
        var schemas: [Int32: RegistrySchema] = [:]
        var lookups = 0
        func schema(id: Int32) throws(RegistryLookupError) -> RegistrySchema {
            lookups += 1
            guard let schema = schemas[id] else {
                throw .unusable("schema id \(id) is not in the schema registry (404)")
            }
            return schema
        }
    }

    static func framed(_ id: Int32, _ payload: [UInt8]) -> [UInt8] { framed(id, [], payload) }

    static func framed(_ id: Int32, _ indexes: [UInt8], _ payload: [UInt8]) -> [UInt8] {
        [0] + withUnsafeBytes(of: id.bigEndian) { Array($0) } + indexes + payload
    }

    func registryDecoder(_ source: String, _ registry: MemoryRegistry) throws -> EventDecoder {
        let compilation = Compiler.compile(path: "p.cep", text: source, schemaFiles: Self.files)
        let automaton = try #require(compilation.automaton)
        return EventDecoder(automaton: automaton, topic: "t", schemas: registry)
    }

    func decode(_ decoder: EventDecoder, prepared bytes: [UInt8]) -> (
        EventDecoder.Readiness, Result<[Value], DecodeFailure>
    ) {
        (bytes.withUnsafeBufferPointer { decoder.prepare($0) }, decode(decoder, bytes))
    }

    @Test func avroFromARegistryByIdWithNewerVersionsAndBadFraming() throws {
        let registry = MemoryRegistry()
        let writer = try AvroSchemaParser.parse(Array(Self.avroSchema.utf8))
        registry.schemas[7] = .avro(writer)
        // A newer version: a field added at the front (the reader still finds its fields by name), 'ok' removed.
        guard case .record(var record) = writer.root else { throw DecodeFailure(reason: "not a record") }
        record.fields.insert(AvroRecordField(name: "channel", type: .string), at: 0)
        record.fields.removeAll { $0.name == "ok" }
        registry.schemas[8] = .avro(AvroSchema(root: .record(record)))
        let source = Self.avroSource.replacingOccurrences(
            of: "format avro \"payment.avsc\"", with: "format avro registry")
        let decoder = try registryDecoder(source, registry)
        let (ready, first) = decode(decoder, prepared: Self.framed(7, Self.payment(note: "hi").bytes))
        #expect(ready == .ready)
        #expect(fields(first)?[0...2] == [.string("alice"), .float(99.5), .string("USD")])
        #expect(registry.lookups == 1)
        _ = decode(decoder, Self.framed(7, Self.payment(note: nil).bytes))
        #expect(registry.lookups == 1, "a schema is asked for once")
        // Version 8 lacks 'ok', which a pattern reads and is not optional: its messages are dead letters.
        var newer = Avro()
        newer.string("web")
        var payment = Self.payment(note: nil).bytes
        payment.removeLast(5)  // ok and ratio
        payment += Float(0.5).bitPattern.littleEndianBytes
        let (readyNewer, failed) = decode(decoder, prepared: Self.framed(8, newer.bytes + payment))
        #expect(readyNewer == .ready, "only the first schema stops cepd")
        #expect(reason(failed)?.contains("schema id 8 (pay.Payment): field 'ok' is not in the writer schema") == true)
        #expect(
            reason(decode(decoder, Self.framed(9, [])))?.contains("schema id 9 is not in the schema registry") == true)
        #expect(
            reason(decode(decoder, Array("{}".utf8) + [0, 0, 0]))
                == "not in the schema registry's wire format: the first byte is 0x7b, not 0 (a message written without a schema registry?)"
        )
        #expect(
            reason(decode(decoder, [0, 0, 0])) == "not in the schema registry's wire format: 3 bytes, a header needs 5")
        let truncated = Self.framed(7, Array(Self.payment(note: "hi").bytes.prefix(10)))
        let truncatedReason = reason(decode(decoder, truncated))
        #expect(
            truncatedReason?.hasPrefix(
                "invalid Avro datum of schema id 7 at byte 14: truncated: 1 bytes announced, 0 left") == true,
            "\(String(describing: truncatedReason))")
    }

    @Test func theFirstRegistrySchemaMustFitEveryDeclaredField() throws {
        let registry = MemoryRegistry()
        registry.schemas[8] = .avro(
            try AvroSchemaParser.parse(
                Array(Self.avroSchema.replacingOccurrences(of: "\"user\"", with: "\"who\"").utf8)))
        registry.schemas[7] = .avro(try AvroSchemaParser.parse(Array(Self.avroSchema.utf8)))
        let source = Self.avroSource.replacingOccurrences(
            of: "format avro \"payment.avsc\"", with: "format avro registry")
        let decoder = try registryDecoder(source, registry)
        let (ready, _) = decode(decoder, prepared: Self.framed(8, []))
        #expect(
            ready
                == .firstSchemaMismatch(
                    "schema id 8 (pay.Payment): field 'user' is not in the writer schema (and has no default: declare it optional)"
                ))
        // Once a first schema was met, others that do not fit are dead letters, not a stop.
        let other = try registryDecoder(source, registry)
        #expect(decode(other, prepared: Self.framed(7, Self.payment(note: nil).bytes)).0 == .ready)
        #expect(decode(other, prepared: Self.framed(8, [])).0 == .ready)
    }

    @Test func protobufFromARegistryByMessageIndexes() throws {
        let registry = MemoryRegistry()
        let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: Self.descriptorSet)
        registry.schemas[3] = try ProtoDescriptorSet.registrySchema(
            main: try set.file[1].serializedBytes(), imports: [try set.file[0].serializedBytes()])
        let source = Self.protoSource.replacingOccurrences(
            of: "format protobuf \"events.desc\" message t.v1.Event",
            with: "format protobuf registry message t.v1.Event")
        let decoder = try registryDecoder(source, registry)
        var m = Wire()
        m.bytes(1, "alice")
        m.message(8, Self.timestamp(5_000))
        // Index list [0] written as a zero count: the file's first message, t.v1.Event.
        #expect(fields(decode(decoder, Self.framed(3, [0], m.bytes)))?.first == .string("alice"))
        // [1] is t.v1.Device (count 1, index 1, zigzag-encoded): not the message the stream reads.
        #expect(
            reason(decode(decoder, Self.framed(3, [2, 2], m.bytes)))
                == "schema id 3: the message is t.v1.Device, the stream reads t.v1.Event")
        #expect(
            reason(decode(decoder, Self.framed(3, [2, 8], m.bytes))) == "schema id 3: no message at index path [4]")
        #expect(registry.lookups == 1)
    }

    // MARK: - Message keys in Avro and Protocol Buffers

    static let keySchema =
        #"{"type":"record","name":"Key","fields":[{"name":"user","type":"string"},{"name":"tenant","type":["null","string"]}]}"#

    func keyed(_ source: String, value: String, key: [UInt8], registry: MemoryRegistry? = nil) throws -> Result<
        [Value], DecodeFailure
    > {
        let files = SchemaFiles.memory(["events.desc": Self.descriptorSet, "key.avsc": Array(Self.keySchema.utf8)])
        let compilation = Compiler.compile(path: "p.cep", text: source, schemaFiles: files)
        #expect(compilation.diagnostics.isEmpty, "\(compilation.diagnostics.map(\.message.text))")
        let decoder = EventDecoder(automaton: try #require(compilation.automaton), topic: "t", schemas: registry)
        #expect(decoder.keyIsBinary && decoder.readsKey)
        let bytes = Array(value.utf8)
        #expect(bytes.withUnsafeBufferPointer { decoder.prepare($0, key: key) } == .ready)
        let outcome = bytes.withUnsafeBufferPointer {
            decoder.decode(
                $0, origin: EventOrigin(topic: "t", partition: 0, offset: 0), sourceRank: 0,
                envelope: MessageEnvelope(key: key, partition: 0, offset: 0))
        }
        switch outcome {
        case .failure(let failure): return .failure(failure)
        default: return .success(Array(try #require(outcome.decoded?.first).fields))
        }
    }

    @Test func messageKeysInAvroAndProtobufAreReadAsFields() throws {
        let avroKeyed = """
            stream s from "t" { format @key avro "key.avsc" key @key.user time ts
              fields { v: int, ts: time, @key.user: string, @key.tenant: string? } }
            pattern p { match a: s emit to "o" { v: a.v, t: a.@key.tenant } }
            """
        var key = Avro()
        key.string("alice")
        key.long(1)
        key.string("acme")
        #expect(
            try keyed(avroKeyed, value: #"{"v":1,"ts":5}"#, key: key.bytes).get() == [
                .int(1), .time(5), .string("alice"), .string("acme"),
            ])
        let bad = try keyed(avroKeyed, value: #"{"v":1,"ts":5}"#, key: Array(key.bytes.prefix(3)))
        #expect(
            reason(bad) == "the message key: invalid avro Key datum at byte 0: truncated: 5 bytes announced, 2 left")
        // In the registry's wire format: the key's schema by its own id.
        let registry = MemoryRegistry()
        registry.schemas[5] = .avro(try AvroSchemaParser.parse(Array(Self.keySchema.utf8)))
        let registered = avroKeyed.replacingOccurrences(
            of: #"format @key avro "key.avsc""#, with: "format @key avro registry")
        #expect(
            try keyed(registered, value: #"{"v":2,"ts":6}"#, key: Self.framed(5, key.bytes), registry: registry).get()[
                3] == .string("acme"))
        #expect(registry.lookups == 1)
        let protobufKeyed = """
            stream s from "t" { format @key protobuf "events.desc" message t.v1.Device key @key.id time ts
              fields { v: int, ts: time, @key.id: string, @key.kind: string } }
            pattern p { match a: s emit to "o" { v: a.v, k: a.@key.kind } }
            """
        var device = Wire()
        device.bytes(1, "d-7")
        #expect(
            try keyed(protobufKeyed, value: #"{"v":3,"ts":7}"#, key: device.bytes).get() == [
                .int(3), .time(7), .string("d-7"), .string("KIND_UNSPECIFIED"),
            ])
    }

    @Test func binaryKeyFieldsAreChecked() throws {
        let files = SchemaFiles.memory(["key.avsc": Array(Self.keySchema.utf8)])
        func ids(_ fields: String) -> [String] {
            Compiler.compile(
                path: "p.cep",
                text: "stream s from \"t\" { format @key avro \"key.avsc\" key k fields { k: string, \(fields) } }",
                schemaFiles: files
            ).diagnostics.map(\.message.id)
        }
        #expect(ids("@key.user: string") == [])
        #expect(ids("@key.usr: string") == ["schema-field"])
        #expect(ids("@key.user: int") == ["schema-type-mismatch"])
        #expect(ids("@key: string") == ["binary-key-as-text"])
    }

    // MARK: - Alerts in Avro and Protocol Buffers

    static let alertSchema = """
        {"type": "record", "name": "Alert", "namespace": "alerts", "fields": [
          {"name": "user", "type": "string"},
          {"name": "amount", "type": "double"},
          {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
          {"name": "gap", "type": "long"},
          {"name": "note", "type": ["null", "string"]},
          {"name": "extra", "type": ["null", "long"]},
          {"name": "n", "type": ["null", "long"]}
        ]}
        """

    static let alertFiles = SchemaFiles.memory([
        "events.desc": descriptorSet, "payment.avsc": Array(avroSchema.utf8), "alert.avsc": Array(alertSchema.utf8),
    ])

    /// Runs `pattern` over JSON events of stream `s` and returns the alerts.
    func alerts(_ pattern: String, _ events: [String]) throws -> [AlertFormatter.Alert] {
        let source = """
            stream s from "t" { key user time ts fields { user: string, v: float, ts: time, note: string? } }
            """ + pattern
        let compilation = Compiler.compile(path: "p.cep", text: source, schemaFiles: Self.alertFiles)
        #expect(compilation.diagnostics.isEmpty, "\(compilation.diagnostics.map(\.message.text))")
        let automaton = try #require(compilation.automaton)
        var engine = Engine(automaton: automaton)
        let input = engine.source(topic: "t", partition: 0)
        let decoder = EventDecoder(automaton: automaton, topic: "t")
        var outputs: [MatchOutput] = []
        for (offset, line) in events.enumerated() {
            let outcome = Array(line.utf8).withUnsafeBufferPointer {
                decoder.decode(
                    $0, origin: EventOrigin(topic: "t", partition: 0, offset: Int64(offset)),
                    sourceRank: engine.sources[input].rank)
            }
            for event in outcome.decoded ?? [] { _ = engine.process(event, source: input, into: &outputs) }
        }
        engine.finishAll(into: &outputs)
        let formatter = AlertFormatter(automaton: automaton)
        return outputs.compactMap { formatter.alert($0) }
    }

    /// Reads alert bytes back with a stream of the same schema (cepd's own decoder; formats.sh uses fastavro and
    /// protobuf's Python classes).
    func readBack(_ bytes: [UInt8], stream: String) throws -> [Value] {
        let compilation = Compiler.compile(path: "r.cep", text: stream, schemaFiles: Self.alertFiles)
        #expect(compilation.diagnostics.isEmpty, "\(compilation.diagnostics.map(\.message.text))")
        let decoder = EventDecoder(automaton: try #require(compilation.automaton), topic: "o")
        return try decode(decoder, bytes).get()
    }

    static let events = [
        #"{"user":"alice","v":1.5,"ts":-5000}"#, #"{"user":"alice","v":9.25,"ts":-2500,"note":"hi"}"#,
        #"{"user":"bob","v":1,"ts":3000}"#, #"{"user":"bob","v":2,"ts":4000}"#,
    ]

    @Test func alertsInAvroReadBackAsTheirJSONFields() throws {
        let found = try alerts(
            """
            pattern p { match a: s -> b: s where b.v > a.v within 1h
              emit to "o" as avro "alert.avsc" { user: a.user, amount: b.v, at: b.ts, gap: b.ts - a.ts, note: b.note, n: 3 } }
            """, Self.events)
        #expect(found.count == 2)
        // (A pattern reads every field: the decoder converts only what some pattern reads.)
        let reader = """
            stream r from "o" { format avro "alert.avsc" key user time at
              fields { user: string, amount: float, at: time, gap: int, note: string?, extra: int?, n: int } }
            pattern q { match x: r emit to "z" { a: x.amount, g: x.gap, o: x.note, e: x.extra, c: x.n } }
            """
        let first = try readBack(try #require(found.first?.encoded), stream: reader)
        #expect(first == [.string("alice"), .float(9.25), .time(-2500), .int(2500), .string("hi"), .null, .int(3)])
        let second = try readBack(try #require(found.last?.encoded), stream: reader)
        #expect(second[4] == .null && second[0] == .string("bob"))
        #expect(
            found.first?.json.hasPrefix(
                #"{"user":"alice","amount":9.25,"at":-2500,"gap":2500,"note":"hi","n":3,"_match""#) == true)
    }

    @Test func alertsWithARegisteredSchemaCarryItsID() throws {
        let source = """
            stream s from "t" { key user time ts fields { user: string, v: float, ts: time, note: string? } }
            pattern p { match a: s -> b: s where b.v > a.v within 1h
              emit to "o" as avro "alert.avsc" registry { user: a.user, amount: b.v, at: b.ts, gap: b.ts - a.ts } }
            """
        let automaton = try #require(
            Compiler.compile(path: "p.cep", text: source, schemaFiles: Self.alertFiles).automaton)
        var formatter = AlertFormatter(automaton: automaton)
        let registrations = formatter.registrations
        #expect(registrations.map(\.subject) == ["o-value"] && registrations.first?.schema == Self.alertSchema)
        formatter.setSchemaID(258, pattern: PatternID(0), timeout: false)
        var engine = Engine(automaton: automaton)
        let input = engine.source(topic: "t", partition: 0)
        var outputs: [MatchOutput] = []
        for (offset, ts) in [1000, 2000].enumerated() {
            let event = Event(
                stream: 0, timestamp: Int64(ts),
                fields: [.string("u"), .float(Double(offset)), .time(Int64(ts)), .null],
                origin: EventOrigin(topic: "t", partition: 0, offset: Int64(offset)),
                sourceRank: engine.sources[input].rank)
            _ = engine.process(event, source: input, into: &outputs)
        }
        engine.finishAll(into: &outputs)
        let output = try #require(outputs.first)
        let encoded = try #require(formatter.alert(output)?.encoded)
        #expect(Array(encoded.prefix(5)) == [0, 0, 0, 1, 2])
        // Replays write JSON only: no registration needed.
        #expect(AlertFormatter(automaton: automaton, encoding: false).alert(outputs[0])?.encoded == nil)
    }

    @Test func alertsInProtobufReadBackAsTheirJSONFields() throws {
        let found = try alerts(
            """
            pattern p { match a: s -> b: s where b.v > a.v within 1h
              emit to "o" as protobuf "events.desc" message t.v1.Event { user: a.user, amount: b.v, at: b.ts, n: b.ts - a.ts, note: b.note } }
            """, Self.events)
        let reader = """
            stream r from "o" { format protobuf "events.desc" message t.v1.Event key user time at
              fields { user: string, amount: float, at: time, n: int, note: string? } }
            pattern q { match x: r emit to "z" { a: x.amount, c: x.n, o: x.note } }
            """
        #expect(
            try readBack(try #require(found.first?.encoded), stream: reader) == [
                .string("alice"), .float(9.25), .time(-2500), .int(2500), .string("hi"),
            ])
        // A null output is left out: the optional note reads as absent.
        #expect(try readBack(try #require(found.last?.encoded), stream: reader)[4] == .null)
    }

    @Test func alertOutputsAreCheckedAgainstTheirSchema() throws {
        func ids(_ emit: String) -> [String] {
            let source = """
                stream s from "t" { key user time ts fields { user: string, v: float, ts: time, note: string? } }
                pattern p { match a: s -> b: s within 1h \(emit) }
                """
            return Compiler.compile(path: "p.cep", text: source, schemaFiles: Self.alertFiles).diagnostics.map(
                \.message.id)
        }
        let ok = "user: a.user, amount: b.v, at: b.ts, gap: b.ts - a.ts"
        #expect(ids(#"emit to "o" as avro "alert.avsc" { \#(ok) }"#) == [])
        #expect(ids(#"emit to "o" as avro "alert.avsc" { \#(ok), colour: "red" }"#) == ["alert-schema-field"])
        #expect(
            ids(#"emit to "o" as avro "alert.avsc" { user: a.user, amount: b.user, at: b.ts, gap: b.ts - a.ts }"#) == [
                "alert-schema-type"
            ])
        // A value that may be null needs a union with null.
        #expect(
            ids(#"emit to "o" as avro "alert.avsc" { user: b.note, amount: b.v, at: b.ts, gap: b.ts - a.ts }"#) == [
                "alert-schema-type"
            ])
        #expect(
            ids(#"emit to "o" as avro "alert.avsc" { user: a.user, amount: b.v, at: b.ts }"#) == ["alert-field-missing"]
        )
        #expect(ids(#"emit to "o" as avro registry { user: a.user }"#) == ["alert-registry-not-supported"])
        #expect(ids(#"emit to "o" as avro "alert.avsc" registry { \#(ok) }"#) == [])
        #expect(
            ids(#"emit to "o" as protobuf "events.desc" registry message t.v1.Event { user: a.user }"#) == [
                "alert-protobuf-not-registrable"
            ])
        #expect(
            ids(#"emit to "o" as protobuf "events.desc" message t.v1.Event { user: a.user, kind: a.user }"#) == [
                "alert-schema-type"
            ])
        #expect(
            ids(#"emit to "o" as protobuf "events.desc" message t.v1.Event { user: a.user, delta: 1 }"#) == [
                "alert-schema-type"
            ])
        #expect(
            ids(
                #"emit to "o" as protobuf "events.desc" message t.v1.Event { user: a.user, n: 1, at: b.ts, @key: a.user }"#
            ) == [])
    }

    // MARK: - The checker

    func diagnostics(_ source: String, files: SchemaFiles = Self.files) -> [(
        id: String, line: Int, message: String, help: String?
    )] {
        let compilation = Compiler.compile(path: "dir/p.cep", text: source, schemaFiles: files)
        return compilation.diagnostics.map {
            let file = compilation.sources[$0.range.file]
            return ($0.message.id, file.location(of: $0.range.start).line, $0.message.text, $0.help)
        }
    }

    static let prefixedFiles = SchemaFiles.memory([
        "dir/events.desc": descriptorSet, "dir/payment.avsc": Array(avroSchema.utf8),
    ])

    @Test func declaredFieldsAreCheckedAgainstTheProtobufSchema() throws {
        let found = diagnostics(
            """
            stream s from "t" {
              format protobuf "events.desc" message t.v1.Event
              key usr
              fields {
                usr: string,
                flag: int,
                device.serial: string,
                tags: string,
                user.first: string
              }
            }
            """, files: Self.prefixedFiles)
        #expect(
            found.map(\.id) == ["schema-field", "schema-type-mismatch", "schema-field", "schema-field", "schema-field"])
        #expect(found.map(\.line) == [5, 6, 7, 8, 9])
        #expect(
            found[0].message == "field 'usr' is not in the schema 'events.desc': message t.v1.Event has no field 'usr'")
        #expect(found[0].help == "did you mean 'user'?")
        #expect(found[1].message == "field 'flag' has type 'bool' in 'events.desc', which cannot be read as 'int'")
        #expect(found[2].message.hasSuffix("message t.v1.Device has no field 'serial'"))
        #expect(found[3].message.hasSuffix("'tags' is repeated (or a map): an event field holds one value"))
        #expect(found[4].message.hasSuffix("'user' is not a message, so it has no fields"))
        let message = diagnostics(
            "stream s from \"t\" {\n  format protobuf \"events.desc\" message t.v1.Event\n  key user\n  fields { user: string, device: string }\n}",
            files: Self.prefixedFiles)
        #expect(message.map(\.id) == ["schema-field"])
        #expect(message.first?.message.hasSuffix("'device' is a message, not a value") == true)
        #expect(message.first?.help == "declare one of its fields: device.id, device.kind")
    }

    @Test func aDescriptorSetWithoutItsImportsIsExplained() throws {
        var set = try Google_Protobuf_FileDescriptorSet(serializedBytes: Self.descriptorSet)
        set.file[1].messageType.removeAll { $0.name == "Device" }
        let files = SchemaFiles.memory(["dir/events.desc": try set.serializedBytes()])
        let found = diagnostics(
            "stream s from \"t\" {\n  format protobuf \"events.desc\" message t.v1.Event\n  key user\n  fields { user: string, device.id: string }\n}",
            files: files)
        #expect(found.map(\.id) == ["schema-field"])
        #expect(
            found.first?.message.hasSuffix("the type of 'device', t.v1.Device, is not in the descriptor set") == true)
        #expect(found.first?.help?.contains("--include_imports") == true)
    }

    @Test func aHandMadeDescriptorSetWithABadFieldNumberIsRefusedNotTrusted() throws {
        var set = try Google_Protobuf_FileDescriptorSet(serializedBytes: Self.descriptorSet)
        set.file[1].messageType[0].field[0].number = -5  // t.v1.Event.user
        let files = SchemaFiles.memory(["dir/events.desc": try set.serializedBytes()])
        let found = diagnostics(
            "stream s from \"t\" {\n  format protobuf \"events.desc\" message t.v1.Event\n  key user\n  fields { user: string }\n}",
            files: files)
        #expect(found.map(\.id) == ["schema-field"])
    }

    @Test func formatClausesAreChecked() throws {
        func ids(_ format: String, files: SchemaFiles = Self.prefixedFiles) -> [String] {
            diagnostics("stream s from \"t\" {\n  \(format)\n  key user\n  fields { user: string }\n}", files: files)
                .map(\.id)
        }
        #expect(ids(#"format protobuf "events.desc" message t.v1.Evnt"#) == ["unknown-message"])
        #expect(ids(#"format protobuf "events.desc""#) == ["format-needs-message"])
        #expect(ids(#"format protobuf "nowhere.desc" message t.v1.Event"#) == ["schema-unreadable"])
        #expect(ids(#"format protobuf "payment.avsc" message t.v1.Event"#) == ["schema-invalid"])
        #expect(ids(#"format avro "events.desc""#) == ["schema-invalid"])
        #expect(ids("format protobuff") == ["unknown-format"])
        #expect(ids("format avro") == ["format-needs-schema"])
        #expect(ids("format avro registry") == [])
        #expect(ids("format protobuf registry message t.v1.Event") == [])
        #expect(ids(#"format json "x.json""#) == ["format-takes-no-schema"])
        #expect(ids("format json") == [])
        let unreadable = diagnostics(
            "stream s from \"t\" {\n  format avro \"nowhere.avsc\"\n  key user\n  fields { user: string }\n}")
        #expect(
            unreadable.first?.message
                == "cannot read the schema 'nowhere.avsc': no such file (looked for dir/nowhere.avsc)")
        let conflict = diagnostics(
            """
            stream a from "t" where kind == "LOGIN" { format protobuf "events.desc" message t.v1.Event key user fields { user: string, kind: string } }
            stream b from "t" where kind == "x" { key user fields { user: string, kind: string } }
            """, files: Self.prefixedFiles)
        #expect(conflict.map(\.id) == ["format-conflict"])
    }

    @Test func declaredFieldsAreCheckedAgainstTheAvroSchema() throws {
        let found = diagnostics(
            """
            stream s from "t" {
              format avro "payment.avsc"
              key user
              fields { user: string, amount: bool, card: string, card.cuntry: string, tags: string, ts: int }
            }
            """, files: Self.prefixedFiles)
        // A timestamp-micros reads only as a time (as an int it would be converted, not the number written).
        #expect(
            found.map(\.id) == [
                "schema-type-mismatch", "schema-field", "field-conflict", "schema-field", "schema-type-mismatch",
                "schema-type-mismatch",
            ])
        #expect(
            found[0].message == "field 'amount' has type 'double' in 'payment.avsc', which cannot be read as 'bool'")
        #expect(found[1].message.hasSuffix("'card' is a record, not a value"))
        #expect(
            found[3].message.hasSuffix("record pay.Card has no field 'cuntry'")
                && found[3].help == "did you mean 'country'?")
        #expect(
            found[4].message
                == "field 'tags' has type 'array<string>' in 'payment.avsc', which cannot be read as 'string'")
        #expect(
            found[5].message
                == "field 'ts' has type 'timestamp-micros' in 'payment.avsc', which cannot be read as 'int'")
    }
}

/// Protocol Buffers wire encoding, written out for tests.
struct Wire {
    var bytes: [UInt8] = []

    static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }

    mutating func rawVarint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }
    mutating func tag(_ number: Int, _ wire: Int) { rawVarint(UInt64(number << 3 | wire)) }
    mutating func varint(_ number: Int, _ v: UInt64) {
        tag(number, 0)
        rawVarint(v)
    }
    mutating func fixed64(_ number: Int, _ v: UInt64) {
        tag(number, 1)
        bytes += v.littleEndianBytes
    }
    mutating func fixed32(_ number: Int, _ v: UInt32) {
        tag(number, 5)
        bytes += v.littleEndianBytes
    }
    mutating func raw(_ number: Int, _ content: [UInt8]) {
        tag(number, 2)
        rawVarint(UInt64(content.count))
        bytes += content
    }
    mutating func bytes(_ number: Int, _ text: String) { raw(number, Array(text.utf8)) }
    mutating func message(_ number: Int, _ inner: Wire) { raw(number, inner.bytes) }
    mutating func group(_ number: Int, _ body: (inout Wire) -> Void) {
        tag(number, 3)
        body(&self)
        tag(number, 4)
    }
}

/// Avro binary encoding, written out for tests.
struct Avro {
    var bytes: [UInt8] = []

    mutating func long(_ v: Int64) {
        var z = Wire()
        z.rawVarint(Wire.zigzag(v))
        bytes += z.bytes
    }
    mutating func string(_ s: String) {
        long(Int64(s.utf8.count))
        bytes += Array(s.utf8)
    }
    mutating func double(_ d: Double) { bytes += d.bitPattern.littleEndianBytes }
}

extension FixedWidthInteger {
    var littleEndianBytes: [UInt8] { (0..<Self.bitWidth / 8).map { UInt8(truncatingIfNeeded: self >> ($0 * 8)) } }
}
