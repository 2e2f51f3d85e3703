extension Array {
    /// Empties the array and keeps its storage — `removeAll(keepingCapacity: true)` without its cost for the few
    /// elements a scratch buffer usually holds: the standard library's goes through a generic `replaceSubrange`
    /// (about 300 instructions) even on an empty array, where `removeLast` costs a few dozen. The matcher clears its
    /// scratch buffers for every partial match an event reaches (callgrind: 3.5 % of a replay's instructions went
    /// to clearing empty ones, then 3 % to clearing short ones).
    @inline(__always)
    mutating func clear() {
        if count > 8 {
            removeAll(keepingCapacity: true)
        } else {
            while !isEmpty { removeLast() }
        }
    }
}
