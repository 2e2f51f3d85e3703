import CEPRuntime
import FuzzSupport

/// Fuzzes the binary decoders (issue 19): the input's first byte picks Protocol Buffers (0), Avro (1), or the same in
/// the schema registry's wire format (2, 3: schema ids 2 and 1 from memory); the rest is messages, each preceded by
/// its length in one byte. Every message is decoded against a schema with every
/// kind of field (Fuzz/Schemas), the events are matched, every alert must be a JSON object, and nothing may crash
/// or hang. Seeds: Fuzz/Corpus/FuzzBinaryEvents, messages written by the official encoders.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBinaryEvents(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let selector = bytes.first else { return 0 }
    var messages: [ArraySlice<UInt8>] = []
    var index = 1
    while index < bytes.count {
        let length = Int(bytes[index])
        let end = min(bytes.count, index + 1 + length)
        messages.append(bytes[(index + 1)..<end])
        index = end
    }
    let automata = [
        FuzzBinaryFormats.protobuf, FuzzBinaryFormats.avro, FuzzBinaryFormats.protobufRegistry, FuzzBinaryFormats.avroRegistry,
    ]
    var engine = Engine(automaton: automata[Int(selector % 4)])
    _ = FuzzEngine.run(&engine, messages: messages, schemas: selector % 4 >= 2 ? FuzzBinaryFormats.registry : nil)
    return 0
}

@_cdecl("FuzzBinaryEvents_main")
public func fuzzBinaryEventsMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzzBinaryEvents)
}
