import CEPCore
import TestSupport
import Testing

@testable import CEPRuntime

/// The matcher's key table against a `Dictionary` under random inserts and removals: deletion shifts entries back
/// along their probe runs, which is easy to get subtly wrong at the wrap-around.
@Suite struct KeyIndexTests {
    @Test func agreesWithADictionaryUnderRandomChurn() {
        var rng = SplitMix(seed: 2026)
        var index = KeyIndex()
        var reference: [Value: Int32] = [:]
        var keys: [Int32: Value] = [:]  // slot → key, as the matcher's slots hold them
        var nextSlot: Int32 = 0
        // Few distinct keys relative to the operations, so that runs collide, wrap and empty repeatedly.
        let universe: [Value] = (0..<300).map { i in
            switch i % 3 {
            case 0: return .string("u\(i)")
            case 1: return .int(Int64(i) * 7919)
            default: return .string(String(repeating: "k", count: i % 40) + "\(i)")
            }
        }
        for step in 0..<60_000 {
            let key = universe[Int.random(in: 0..<universe.count, using: &rng)]
            let hash = KeyIndex.hash(key)
            let found = index.find(hash) { keys[$0] == key }
            #expect(found == reference[key], "step \(step): lookup of \(key)")
            if let slot = found {
                if Bool.random(using: &rng) {
                    index.remove(hash, slot: slot)
                    reference[key] = nil
                    keys[slot] = nil
                }
            } else {
                index.insert(hash, slot: nextSlot)
                reference[key] = nextSlot
                keys[nextSlot] = key
                nextSlot += 1
            }
            #expect(index.count == reference.count)
        }
        #expect(Set(index.slots) == Set(reference.values))
    }
}
