import CEPCore
import CEPDriver
import CEPRuntime

/// The reading side of a replay, on its own thread: reads the files, decodes their lines and merges them by event
/// time (the next line comes from the input whose next event is earliest; ties go to the input given first), and
/// sends them to the engine's thread in batches. It builds no `Event`: the engine's thread does (see
/// `DecodedEvents`).
// @unchecked: confined to the reading thread once `run` starts; the engine thread reads `readFailure` and
// `schemaMismatch` only after the channel closed (ordered by the channel's lock).
final class ReplayReader: @unchecked Sendable {
    /// One file: one partition of a topic.
    struct Input {
        let reader: LineReader
        let decoder: EventDecoder
        /// The offset of the head line.
        var offset: Int64 = -1
        /// The partition the file stands for (`@partition`).
        var partition: Int32 = 0
        /// How its lines are read.
        var format: InputFormat = .json
        /// The decoded events of the next line that has any, and a copy of that line (the reader's buffer moves
        /// on while the head waits for its turn).
        var head = DecodedEvents()
        var headLine: [UInt8] = []
        var finished = false
        /// The message of a base64 line, for binary formats (reused from line to line).
        var binary: [UInt8] = []
    }

    private var inputs: [Input]
    /// Why reading stopped before every input's end (a read error), if it did; set before the channel closes.
    private(set) var readFailure: String?
    /// Why reading stopped at the first schema of a registry topic, when it does not fit the declared fields.
    private(set) var schemaMismatch: String?
    private let channel: BatchChannel<InputBatch>
    private var batch: InputBatch

    /// Owns `inputs` from now on; they must not be touched by another thread.
    init(inputs: [Input], channel: BatchChannel<InputBatch>) {
        self.inputs = inputs
        self.channel = channel
        self.batch = channel.emptyBatch()
    }

    /// Reads everything, then closes the channel.
    func run() {
        for index in inputs.indices { advanceHead(index) }
        while readFailure == nil && schemaMismatch == nil, let next = nextInput() {
            let line = inputs[next].headLine.withUnsafeBufferPointer { batch.keep($0) }
            batch.decoded.append(contentsOf: inputs[next].head)
            emit(
                .events(
                    InputRecord(input: next, offset: inputs[next].offset, value: line), count: inputs[next].head.count))
            advanceHead(next)
        }
        channel.send(batch)
        channel.close()
    }

    /// The input whose next event is earliest; ties go to the input given first.
    private func nextInput() -> Int? {
        var best: Int?
        var earliest = Int64.max
        for index in inputs.indices where !inputs[index].finished {
            guard let time = inputs[index].head.entries.first?.timestamp else { continue }
            if best != nil && earliest <= time { continue }
            best = index
            earliest = time
        }
        return best
    }

    /// Adds an item (whose line and events are already in the batch); hands the batch over when it is full.
    private func emit(_ item: InputItem) {
        batch.items.append(item)
        guard batch.isFull else { return }
        channel.send(batch)
        batch = channel.emptyBatch()
    }

    /// Reads lines of one input until one decodes to events (malformed lines become dead-letter items).
    private func advanceHead(_ index: Int) {
        inputs[index].head.removeAll()
        while inputs[index].head.count == 0 {
            var failure: DecodeFailure?
            var unready: EventDecoder.Readiness = .ready
            let decoder = inputs[index].decoder
            let format = inputs[index].format
            let more = inputs[index].reader.next { bytes in
                switch format {
                case .json:
                    // A line of values carries no message key, timestamp or headers: of the envelope only the
                    // partition (the file's) and offset (the line's number).
                    let envelope =
                        decoder.readsEnvelope
                        ? MessageEnvelope(partition: inputs[index].partition, offset: inputs[index].offset + 1) : nil
                    guard decoder.format.isBinary else {
                        failure = decoder.decode(bytes, envelope: envelope, into: &inputs[index].head)
                        return
                    }
                    if let problem = Base64Line.decode(bytes, into: &inputs[index].binary) {
                        failure = DecodeFailure(reason: problem)
                        return
                    }
                    failure = inputs[index].binary.withUnsafeBufferPointer {
                        unready = decoder.prepare($0)
                        return unready == .ready
                            ? decoder.decode($0, envelope: envelope, into: &inputs[index].head) : nil
                    }
                case .kcat:
                    switch InputFormat.kcatMessage(bytes) {
                    case .failure(let reason): failure = reason
                    case .success(var message):
                        if decoder.keyIsBinary, let key = message.envelope.key {
                            // A binary key is base64 in the line too.
                            var bytes: [UInt8] = []
                            if let problem = key.withUnsafeBufferPointer({ Base64Line.decode($0, into: &bytes) }) {
                                failure = DecodeFailure(reason: "'key': \(problem)")
                                return
                            }
                            message.envelope.key = bytes
                        }
                        guard var payload = message.payload else {
                            // A table's row deleted; in any other topic a dead letter.
                            failure = decoder.decodeDeletion(
                                key: message.envelope.key, messageTimestamp: message.envelope.timestamp,
                                into: &inputs[index].head)
                            return
                        }
                        if decoder.format.isBinary {
                            // A binary payload is base64 in the line (a JSON string cannot hold arbitrary bytes).
                            if let problem = payload.withUnsafeBufferPointer({
                                Base64Line.decode($0, into: &inputs[index].binary)
                            }) {
                                failure = DecodeFailure(reason: "'payload': \(problem)")
                                return
                            }
                            payload = inputs[index].binary
                        }
                        failure = payload.withUnsafeBufferPointer {
                            unready = decoder.prepare($0, key: message.envelope.key)
                            guard unready == .ready else { return nil }
                            return decoder.decode(
                                $0, messageTimestamp: message.envelope.timestamp, envelope: message.envelope,
                                into: &inputs[index].head)
                        }
                    }
                }
            }
            switch unready {
            case .ready: break
            case .stopping(let reason):
                readFailure = "\(inputs[index].reader.path), line \(inputs[index].offset + 2): \(reason)"
                inputs[index].finished = true
                return
            case .firstSchemaMismatch(let problem):
                schemaMismatch =
                    "\(inputs[index].reader.path), line \(inputs[index].offset + 2): the first schema of topic "
                    + "'\(decoder.topic)' does not fit the declared fields: \(problem)"
                inputs[index].finished = true
                return
            }
            guard more else {
                inputs[index].finished = true
                if let error = inputs[index].reader.readError {
                    // Not the end of the input: matching stops here rather than end windows that are still open.
                    readFailure =
                        "cannot read \(inputs[index].reader.path) after \(inputs[index].offset + 1) lines: \(error)"
                    return
                }
                emit(.finished(input: index))
                return
            }
            inputs[index].offset += 1
            let reader = inputs[index].reader
            let current = reader.current
            if let overlong = reader.overlongLength {
                failure = DecodeFailure(
                    reason:
                        "line longer than \(reader.maxLineBytes) bytes (\(overlong) bytes; the value holds its first "
                        + "\(current.count))")
            }
            if let failure {
                let line = batch.keep(current)
                emit(
                    .deadLetter(
                        InputRecord(input: index, offset: inputs[index].offset, value: line), reason: failure.reason))
                continue
            }
            inputs[index].headLine.removeAll(keepingCapacity: true)
            inputs[index].headLine.append(contentsOf: current)
        }
    }
}
