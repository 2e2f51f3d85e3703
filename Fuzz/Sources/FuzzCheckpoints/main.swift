import CEPRuntime
import Foundation
import FuzzSupport

/// Fuzzes engine checkpoints: the input is a snapshot (the records a checkpoint store holds, serialized) that the
/// engine restores; a damaged one must be refused with an error, and whatever is accepted must then match events
/// and end its windows without crashing.
///
/// Seeds come from real runs and are written at start (`LLVMFuzzerInitialize`, when `CEPD_FUZZ_SEEDS` names a
/// folder), so that they always carry this build's format version.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoints(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var engine = Engine(automaton: FuzzEngine.automaton)
    guard (try? engine.restore(Array(UnsafeBufferPointer(start: data, count: size)))) != nil else { return 0 }
    _ = FuzzEngine.run(&engine, messages: afterRestore)
    return 0
}

/// Events fed after a restore: every pattern has something to do with them.
let afterRestore: [ArraySlice<UInt8>] = (0..<40).map { i in
    let key = ["u1", "u2", "u3"][i % 3]
    let s = ["open", "stop", "x", "start"][i % 4]
    return ArraySlice(#"{"k":"\#(key)","v":\#(i % 7),"s":"\#(s)","ok":\#(i % 5 == 0),"f":\#(i).5,"ts":\#(1000 + i * 300)}"#.utf8)
}

@_cdecl("LLVMFuzzerInitialize")
public func initializeCheckpoints(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>>>) -> CInt {
    guard let folder = ProcessInfo.processInfo.environment["CEPD_FUZZ_SEEDS"] else { return 0 }
    // Snapshots taken part-way through the events above, so that they hold open windows, loops and branches.
    for cut in [0, 5, 12, 20, 31] {
        var engine = Engine(automaton: FuzzEngine.automaton)
        let topics = engine.inputTopics
        for (i, message) in afterRestore.prefix(cut).enumerated() {
            let input = i % topics.count
            let source = engine.source(topic: topics[input], partition: 0)
            let decoder = EventDecoder(automaton: engine.automaton, topic: topics[input])
            let outcome = message.withUnsafeBufferPointer {
                decoder.decode($0, origin: EventOrigin(topic: topics[input], partition: 0, offset: Int64(i)), sourceRank: engine.sources[source].rank)
            }
            var outputs: [MatchOutput] = []
            if case .event(let event) = outcome { _ = engine.process(event, source: source, into: &outputs) }
        }
        let path = folder + "/snapshot-\(cut)"
        guard FileManager.default.createFile(atPath: path, contents: Data(engine.snapshot())) else {
            fatalError("cannot write the seed \(path)")
        }
    }
    return 0
}

@_cdecl("FuzzCheckpoints_main")
public func fuzzCheckpointsMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzzCheckpoints)
}
