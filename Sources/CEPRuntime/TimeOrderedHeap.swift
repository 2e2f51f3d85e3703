/// An entry of a `TimeOrderedHeap`: an event time and a total order among entries with that time.
protocol TimeOrdered {
    var time: Int64 { get }
    /// Whether `a` comes before `b`; entries must be totally ordered (no two equal), so pops are deterministic.
    static func precedes(_ a: Self, _ b: Self) -> Bool
}

/// A binary min-heap of plain entries, sifted through unsafe buffers (no uniqueness checks in the loop): the
/// timer and pending-event queues of every pattern.
struct TimeOrderedHeap<Entry: TimeOrdered> {
    var entries: [Entry] = []

    var count: Int { entries.count }

    mutating func push(_ entry: Entry) {
        entries.append(entry)
        entries.withUnsafeMutableBufferPointer { Self.siftUp(entry, from: $0.count - 1, in: $0) }
    }

    /// Puts `entry` at hole `k` or above it, moving down the parents it precedes.
    @inline(__always)
    private static func siftUp(_ entry: Entry, from k: Int, in h: UnsafeMutableBufferPointer<Entry>) {
        var k = k
        while k > 0 {
            let parent = (k - 1) / 2
            guard Entry.precedes(entry, h[parent]) else { break }
            h[k] = h[parent]
            k = parent
        }
        h[k] = entry
    }

    /// Removes and returns the first entry if its time is at or below `watermark`.
    mutating func popIfDue(_ watermark: Int64) -> Entry? {
        guard let top = entries.first, top.time <= watermark else { return nil }
        let last = entries.removeLast()
        guard !entries.isEmpty else { return top }
        // Floyd's way: the hole goes down to a leaf by the smaller child (one comparison per level), then the last
        // entry — from the bottom, so it rarely rises — goes up from there. Half the comparisons of sifting it
        // down; the order of pops is the same (no two entries are equal).
        entries.withUnsafeMutableBufferPointer { h in
            let n = h.count
            var k = 0
            while true {
                let l = 2 * k + 1
                guard l < n else { break }
                var m = l
                if l + 1 < n && Entry.precedes(h[l + 1], h[l]) { m = l + 1 }
                h[k] = h[m]
                k = m
            }
            Self.siftUp(last, from: k, in: h)
        }
        return top
    }
}

/// A heap of sendable entries is a value like an array of them.
extension TimeOrderedHeap: Sendable where Entry: Sendable {}
