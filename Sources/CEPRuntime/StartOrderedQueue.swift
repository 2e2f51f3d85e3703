/// A binary min-heap that behaves exactly like `java.util.PriorityQueue`: the same sift rules, the same array
/// order on iteration, and the same bulk removal (compact, then heapify).
///
/// Why copy a Java collection's internals: Flink CEP keeps partial and completed matches in `PriorityQueue`s
/// ordered only by their start event, and several matches often share a start event. Which of those is emitted
/// first under an after-match skip strategy — and so which survive the pruning that follows — is decided by the
/// heap's array order. Reproducing that order is what makes cepd emit the same matches as Flink CEP.
struct StartOrderedQueue<Element: StartOrdered> {
    private(set) var elements: [Element] = []

    init() {}

    init(elements: [Element]) {
        self.elements = elements
    }

    /// Java's `Comparator.compare`: Flink's COMPUTATION_STATE_COMPARATOR orders by start event only.
    @inline(__always)
    private func precedes(_ a: Element, _ b: Element) -> Int {
        a.startOrder < b.startOrder ? -1 : (a.startOrder == b.startOrder ? 0 : 1)
    }

    var isEmpty: Bool { elements.isEmpty }
    var count: Int { elements.count }
    var first: Element? { elements.first }

    mutating func add(_ element: Element) {
        elements.append(element)
        siftUp(elements.count - 1, element)
    }

    /// Java's `addAll`: `add` each element in order (for another queue, its array order).
    mutating func add(contentsOf other: some Sequence<Element>) {
        for element in other { add(element) }
    }

    /// Adds the first elements of another queue's array, in order, to an empty queue: what adding each would give
    /// (every element of a heap follows its parent, so none moves), without the sifting.
    mutating func add(heapPrefix prefix: Slice<UnsafeBufferPointer<Element>>) {
        precondition(elements.isEmpty, "a heap's prefix is a heap only on its own")
        elements.append(contentsOf: prefix)
    }

    /// Empties the queue, keeping its storage for reuse.
    mutating func removeAll() {
        elements.clear()
    }

    /// Exchanges contents with another queue (reusing both buffers).
    mutating func swapContents(with other: inout StartOrderedQueue<Element>) {
        swap(&elements, &other.elements)
    }

    mutating func poll() -> Element? {
        guard !elements.isEmpty else { return nil }
        let result = elements[0]
        let last = elements.removeLast()
        if !elements.isEmpty { siftDown(0, last) }
        return result
    }

    /// Java's `removeIf`: survivors keep their relative order, then the array is heapified. Returns the removed.
    @discardableResult
    mutating func removeAll(where shouldRemove: (Element) -> Bool) -> [Element] {
        guard let firstRemoved = elements.firstIndex(where: shouldRemove) else { return [] }
        var removed: [Element] = []
        var survivors = Array(elements[..<firstRemoved])
        for element in elements[firstRemoved...] {
            if shouldRemove(element) { removed.append(element) } else { survivors.append(element) }
        }
        elements = survivors
        var index = (elements.count >> 1) - 1
        while index >= 0 {
            siftDown(index, elements[index])
            index -= 1
        }
        return removed
    }

    private mutating func siftUp(_ start: Int, _ element: Element) {
        var k = start
        while k > 0 {
            let parent = (k - 1) >> 1
            if precedes(element, elements[parent]) >= 0 { break }
            elements[k] = elements[parent]
            k = parent
        }
        // Where it was appended (most adds): already there.
        if k != start { elements[k] = element }
    }

    private mutating func siftDown(_ start: Int, _ element: Element) {
        var k = start
        let n = elements.count
        let half = n >> 1
        while k < half {
            var child = 2 * k + 1
            var c = elements[child]
            let right = child + 1
            if right < n && precedes(c, elements[right]) > 0 {
                child = right
                c = elements[child]
            }
            if precedes(element, c) <= 0 { break }
            elements[k] = c
            k = child
        }
        elements[k] = element
    }
}

/// Something ordered by its start event: Flink's EventId order (timestamp, then arrival), `UInt64.max` for none.
protocol StartOrdered {
    var startOrder: UInt64 { get }
}

/// A queue of sendable matches is a value like an array of them (a checkpoint's capture takes it to another thread).
extension StartOrderedQueue: Sendable where Element: Sendable {}
