public import CEPCompiler
public import CEPRuntime
import CEPSchemas
import Foundation

/// The patterns FuzzBinaryEvents runs, over the schemas of Fuzz/Schemas: the descriptor set is written by protoc
/// at run time (Fuzz/run.sh) into the folder `CEPD_FUZZ_SCHEMAS` names.
public enum FuzzBinaryFormats {
    static var folder: String {
        guard let folder = ProcessInfo.processInfo.environment["CEPD_FUZZ_SCHEMAS"] else {
            fatalError("CEPD_FUZZ_SCHEMAS is not set: run the target through Fuzz/run.sh")
        }
        return folder
    }

    static func compile(_ source: String) -> Automaton {
        let compilation = Compiler.compile(path: folder + "/fuzz.cep", text: source)
        guard let automaton = compilation.automaton else {
            fatalError("the binary fuzz patterns do not compile: \(compilation.diagnostics.map(\.message.text))")
        }
        return automaton
    }

    /// Protocol Buffers: `fuzz.v1.Event`.
    public static let protobuf = compile(protobufSource)

    /// The same in the Confluent wire format (schema id 2, message index [1]: fuzz.v1.Event), from `registry`.
    public static let protobufRegistry = compile(
        protobufSource.replacingOccurrences(of: "format protobuf \"fuzz.desc\"", with: "format protobuf registry"))

    static let protobufSource = """
        stream p from "p" {
          format protobuf "fuzz.desc" message fuzz.v1.Event
          key k  time ts  lateness 1s
          fields {
            k: string, v: int, s32: int, s64: int, u32: int, u64: int?, f32: int, f64: int?, sf32: int, sf64: int,
            fl: float, db: float, ok: bool, kind: string, raw: string, ts: time, inner.id: string?, inner.kind: int?,
            inner.next.next.id: string?, note: string?, i32: float
          }
        }
        pattern rise {
          match x: p -> y: p where y.v > x.v or y.kind != x.kind
          within 10s
          emit to "o" { k: x.k, d: y.v - x.v, s: y.s32 + y.s64, u: y.u64, f: y.fl * y.db, n: y.note, i: y.inner.id,
            deep: y.inner.next.next.id, raw: y.raw, kind: y.inner.kind, f64: y.f64, i32: y.i32 }
        }
        """

    /// Avro: `fuzz.v1.Event`.
    public static let avro = compile(avroSource)

    /// The same in the Confluent wire format (schema id 1), from `registry`.
    public static let avroRegistry = compile(
        avroSource.replacingOccurrences(of: "format avro \"fuzz.avsc\"", with: "format avro registry"))

    /// Schema ids 1 (the Avro schema) and 2 (the Protobuf file); any other id is not in it.
    public static let registry: any RegistrySchemas = {
        final class Fixed: RegistrySchemas, @unchecked Sendable {
            let schemas: [Int32: RegistrySchema]
            init(_ schemas: [Int32: RegistrySchema]) { self.schemas = schemas }
            func schema(id: Int32) throws(RegistryLookupError) -> RegistrySchema {
                guard let schema = schemas[id] else { throw .unusable("schema id \(id) is not in the schema registry (404)") }
                return schema
            }
        }
        guard let avroText = FileManager.default.contents(atPath: folder + "/fuzz.avsc"),
            let descriptors = FileManager.default.contents(atPath: folder + "/fuzz.desc"),
            let avro = try? AvroSchemaParser.parse(Array(avroText)),
            let proto = try? ProtoDescriptorSet.schema(from: Array(descriptors))
        else { fatalError("the fuzz schemas cannot be read from \(folder)") }
        // fuzz.proto declares Inner, then Event: message indexes [0] and [1].
        let messages = [ProtoMessageTree(name: "fuzz.v1.Inner", nested: []), ProtoMessageTree(name: "fuzz.v1.Event", nested: [])]
        return Fixed([1: .avro(avro), 2: .protobuf(proto, messages: messages)])
    }()

    static let avroSource = """
        stream v from "v" {
          format avro "fuzz.avsc"
          key k  time ts  lateness 1s
          fields { k: string, v: int, i: int?, fl: float, db: float, ok: bool, kind: string, raw: string,
                   inner.id: string?, inner.n: int?, ts: time }
        }
        pattern rise {
          match x: v -> y: v where y.v > x.v and y.ok
          within 10s
          emit to "o" { k: x.k, d: y.v - x.v, i: y.i, f: y.fl + y.db, kind: y.kind, raw: y.raw, id: y.inner.id,
            n: y.inner.n }
        }
        """
}
