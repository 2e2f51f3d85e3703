import CEPCore

/// One event bound to one step of a partial match: a node of the shared buffer.
///
/// Partial matches are persistent linked lists that share their prefixes: when a partial match branches (a step
/// that may take the event or skip it), both branches point at the same earlier nodes, and each event is stored
/// once however many partial matches bind it. Flink CEP gets the same sharing from a DAG of nodes versioned with
/// Dewey numbers; a tree needs no versions because each branch owns exactly one path. Nodes are freed by
/// reference counting as soon as no partial match, held match or buffered output refers to them.
public final class MatchNode: Sendable {
    /// The bound event.
    public let event: Event
    /// The binding (step) it is bound to: index into `PatternAutomaton.bindings`.
    public let binding: Int
    /// The node bound before this one; `nil` for the first event of the match.
    public let previous: MatchNode?
    /// Order in which the key's matcher processed the event: Flink's EventId (timestamp, then arrival).
    public let sequence: UInt64

    /// Creates a node.
    public init(event: Event, binding: Int, sequence: UInt64, previous: MatchNode?) {
        self.event = event
        self.binding = binding
        self.sequence = sequence
        self.previous = previous
    }

    /// The nodes of the match from the first to this one.
    public var path: [MatchNode] {
        var nodes: [MatchNode] = []
        var node: MatchNode? = self
        while let current = node {
            nodes.append(current)
            node = current.previous
        }
        return nodes.reversed()
    }
}

extension Optional where Wrapped == MatchNode {
    /// Field `field` of the most recent event bound to `binding`; `.null` when none is bound. Conditions that
    /// refer to an earlier step read through this on every candidate event: the walk borrows the chain (the
    /// partial match being tested keeps every node alive), so it costs no reference counting per node.
    @inline(__always)
    func lastField(of binding: Int, field: Int) -> Value {
        guard let first = self else { return .null }
        unowned(unsafe) var current = first
        while true {
            if current.binding == binding { return current.event.field(field) }
            guard let previous = current.previous else { return .null }
            current = previous
        }
    }
}
