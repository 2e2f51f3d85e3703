public import CEPRuntime

/// Input items → the engine → outputs (alerts, late events, dead letters) and the positions to checkpoint: the one
/// loop `cepd run` (files) and `cepd serve` (Kafka) share.
///
/// It knows neither files, Kafka nor the clock: the adapters read their inputs into `InputBatch`es, give the driver
/// each batch with the time it arrived (`now`, their uptime clock in nanoseconds, a manual one in tests), and carry
/// out what comes back — the alerts and side outputs in `outputs` and `sideOutputs`, and the items only they can
/// act on (a partition assigned, a rebalance, a reload, a notice), which `step` returns instead of handling.
///
/// Why one type: the two loops grew as copies of "apply an item, track its partition, note the position", and
/// differed in small ways nobody chose; one driver tested in process (`EngineDriverTests`) holds both to the same
/// rules.
public struct EngineDriver {
    /// What the driver cannot carry out itself: `step` stops there and returns it.
    public enum Pause {
        /// A partition assigned (`.opened`), a notice, a reload's switch point or a rebalance's release: the
        /// adapter acts on it (for `.opened`, then calls `open`) and calls `step` again, which goes on after it.
        case control(InputItem)
        /// `holdsOutput` is set and the next item could make the engine produce: the adapter prepares the tasks it
        /// just started (output recovery, their first checkpoint), clears `holdsOutput` and calls `step` again,
        /// which then applies that item.
        case preparation
        /// `pausesForOutputs` is set and an item made outputs: the adapter sends them and calls `step` again.
        case outputs
    }

    /// Where `step` is in a batch.
    public struct BatchPosition {
        var item = 0
        var cursor = DecodedEvents.Cursor()

        /// The start of a batch.
        public init() {}
    }

    /// A late event or a dead letter, for the adapter to write with the message's bytes (still in the batch
    /// `step` was given when it returns).
    public enum SideOutput {
        /// An event behind the watermark of `patterns` (their watermarks, in the same order, after it).
        case late(InputRecord, eventTime: Int64, patterns: [PatternID], watermarks: [Int64])
        /// A message that did not decode.
        case deadLetter(InputRecord, reason: String)
    }

    /// When quiet partitions stop holding the watermark back.
    public struct Idling: Sendable {
        /// A partition read to its end and without messages this long goes idle (0: as soon as it is read to its
        /// end); nil: never by time (a replay, whose files end instead).
        public var timeoutNanos: UInt64?
        /// A revoked partition holds the watermark back at least this long, in case it comes back.
        public var revokedGraceNanos: UInt64

        /// Partitions go idle `timeoutNanos` after they are read to their end, revoked ones after
        /// `max(timeoutNanos, revokedGraceNanos)`.
        public init(timeoutNanos: UInt64?, revokedGraceNanos: UInt64 = 30_000_000_000) {
            self.timeoutNanos = timeoutNanos
            self.revokedGraceNanos = revokedGraceNanos
        }
    }

    /// The engines of the tasks that run here.
    public var engine: TaskEngines
    /// The inputs by the readers' numbers (`InputRecord.input`).
    public private(set) var inputs: [DriverInput] = []
    /// What the engine produced since the adapter last emptied it (it empties it after each `step`).
    public var outputs: [MatchOutput] = []
    public var sideOutputs: [SideOutput] = []
    /// Set by the adapter while tasks it started must not produce yet (see `Pause.preparation`).
    public var holdsOutput = false
    /// Set by an adapter whose outputs someone waits for (the daemon): `step` pauses after each item that made
    /// outputs, so that an alert goes out when its match completes instead of after the rest of the batch (up to
    /// 4,096 items: milliseconds under load). Alerts are a small share of the items, so the pauses cost little.
    public var pausesForOutputs = false
    public var idling: Idling
    /// Events processed, late events and dead letters, since the driver began.
    public private(set) var processedEvents = 0
    public private(set) var lateEvents = 0
    public private(set) var deadLetters = 0
    /// Positions recorded for partitions not opened yet (a task's checkpoint lists every partition of the task).
    private var pendingPositions: [PartitionID: Int64] = [:]

    /// A driver of `engine`'s tasks.
    public init(engine: TaskEngines, idling: Idling) {
        self.engine = engine
        self.idling = idling
    }

    // MARK: - Inputs

    /// Registers input `input` (the reader's number; readers number them 0, 1, … as they first see them) as
    /// partition `partition` of `topic`, or opens it again. `joinsOnFirstMessage`: a partition new to a task that
    /// already processed events goes idle at once, so that it does not hold everything back until its first
    /// message (Kafka: a partition added while others run); not a restored one that had events — it holds the
    /// watermark where it was.
    public mutating func open(
        input: Int, topic: String, partition: Int32, now: UInt64, joinsOnFirstMessage: Bool = true
    ) {
        let source = engine.source(topic: topic, partition: partition)
        if input < inputs.count {
            // Assigned again (a rebalance, a rejoin after an outage): it goes on where it was, holding the
            // watermark as before.
            inputs[input].open = true
            inputs[input].closedAt = nil
            inputs[input].source = source
        } else {
            precondition(input == inputs.count, "inputs are numbered in the order they are first opened")
            var opened = DriverInput(
                topic: topic, partition: partition, source: source, rank: engine[source].rank, lastSeen: now)
            opened.position = pendingPositions.removeValue(forKey: PartitionID(topic: topic, partition: partition))
            inputs.append(opened)
            if joinsOnFirstMessage && engine.engine(source.task)!.stats.events > 0 && !engine[source].isIdle
                && engine[source].maxTimestamp == .min
            {
                engine.setIdle(source, true, into: &outputs)
            }
        }
    }

    /// Sets where `partition` goes on (a restored checkpoint's position), whether or not it is open yet.
    public mutating func setPosition(_ partition: PartitionID, _ offset: Int64) {
        if let input = inputs.firstIndex(where: { $0.topic == partition.topic && $0.partition == partition.partition })
        {
            inputs[input].position = offset
        } else {
            pendingPositions[partition] = offset
        }
    }

    /// The positions of task `task`'s partitions (open or not, and those only recorded so far).
    public func positions(ofTask task: TaskID) -> [PartitionID: Int64] {
        var positions = pendingPositions.filter { task.owns(partition: $0.key.partition) }
        for input in inputs where task.owns(partition: input.partition) {
            if let position = input.position {
                positions[PartitionID(topic: input.topic, partition: input.partition)] = position
            }
        }
        return positions
    }

    // MARK: - Items

    /// Applies the items of `batch` from `position` on, until its end (nil) or an item the adapter must act on
    /// (`Pause`). The outputs it produced are in `outputs` and `sideOutputs`.
    public mutating func step(_ batch: InputBatch, _ position: inout BatchPosition, now: UInt64) -> Pause? {
        while position.item < batch.items.count {
            let item = batch.items[position.item]
            switch item {
            case .opened, .notice:
                position.item += 1
                return .control(item)
            default:
                if holdsOutput { return .preparation }
            }
            position.item += 1
            switch item {
            case .events(let record, let count):
                // Read through a pointer: `inputs[i].field` copied the whole input per message (~1 % of a replay).
                precondition(record.input < inputs.count, "an item of an input never opened")
                let (source, rank, origin) = inputs.withUnsafeBufferPointer { inputs in
                    let input = UnsafePointer(inputs.baseAddress! + record.input)
                    return (
                        input.pointee.source, input.pointee.rank,
                        EventOrigin(
                            topic: input.pointee.topic, partition: input.pointee.partition, offset: record.offset)
                    )
                }
                processedEvents += count
                var late = 0
                for _ in 0..<count {
                    let event = batch.decoded.next(&position.cursor, origin: origin, sourceRank: rank)
                    let latePatterns = engine.process(event, source: source, into: &outputs)
                    if !latePatterns.isEmpty {
                        let watermarks = latePatterns.map { engine.watermark(ofPattern: $0, task: source.task) }
                        sideOutputs.append(
                            .late(record, eventTime: event.timestamp, patterns: latePatterns, watermarks: watermarks))
                        late += 1
                    }
                }
                lateEvents += late
                // One write access for the bookkeeping (each `inputs[i].x = …` checks the array's uniqueness).
                inputs.withUnsafeMutableBufferPointer { inputs in
                    inputs[record.input].lastSeen = now
                    inputs[record.input].caughtUp = false
                    inputs[record.input].messages += 1
                    inputs[record.input].lateEvents += late
                    inputs[record.input].position = record.offset + 1
                }
                if pausesForOutputs && !outputs.isEmpty { return .outputs }
            case .deadLetter(let record, let reason):
                inputs[record.input].lastSeen = now
                inputs[record.input].caughtUp = false
                inputs[record.input].messages += 1
                inputs[record.input].deadLetters += 1
                inputs[record.input].position = record.offset + 1
                sideOutputs.append(.deadLetter(record, reason: reason))
                deadLetters += 1
            case .caughtUp(let input):
                inputs[input].caughtUp = true
                inputs[input].lastSeen = now
                // An idle timeout of 0: idle the moment it is caught up, as a replay's file that ends.
                if idling.timeoutNanos == 0 { engine.setIdle(inputs[input].source, true, into: &outputs) }
            case .closed(let input):
                // Not idle yet: a rebalance (or a rejoin after an outage) usually gives it back at once, and it
                // must then hold the watermark where it was. `markIdle` lets it go if it stays away.
                inputs[input].open = false
                inputs[input].closedAt = now
            case .finished(let input):
                engine.finish(inputs[input].source, into: &outputs)
            case .reloaded, .released:
                return .control(item)
            case .opened, .notice:
                break  // returned above
            }
        }
        return nil
    }

    /// Lets partitions that stayed quiet (read to their end) or away (revoked) long enough stop holding the
    /// watermark back; their next message makes them active again (`Engine.process`).
    public mutating func markIdle(now: UInt64) {
        guard let timeout = idling.timeoutNanos else { return }
        let revokedTimeout = max(timeout, idling.revokedGraceNanos)
        for i in inputs.indices where engine.runs(inputs[i].source.task) && !engine[inputs[i].source].isIdle {
            if inputs[i].open && inputs[i].caughtUp && now - inputs[i].lastSeen >= timeout {
                engine.setIdle(inputs[i].source, true, into: &outputs)
            } else if let closedAt = inputs[i].closedAt, now - closedAt >= revokedTimeout {
                engine.setIdle(inputs[i].source, true, into: &outputs)
            }
        }
    }

    /// Replaces the engine after a reload (`TaskEngines.reloading`): the inputs and their positions stay.
    public mutating func replaceEngine(_ engine: TaskEngines) {
        self.engine = engine
    }
}
