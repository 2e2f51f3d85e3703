import CEPRuntime
import FuzzSupport

/// Fuzzes event messages: the input is a replay file's bytes (one message per line). Every line is decoded, the
/// events are matched by every pattern, every alert must be a JSON object, and nothing may crash or hang.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEvents(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var engine = Engine(automaton: FuzzEngine.automaton)
    _ = FuzzEngine.run(&engine, messages: FuzzEngine.lines(UnsafeRawBufferPointer(start: data, count: size)))
    return 0
}

@_cdecl("FuzzEvents_main")
public func fuzzEventsMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzzEvents)
}
