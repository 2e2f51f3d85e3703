import CEPCore
import CEPRuntime

/// The answer to `GET /keys/KEY` and `cepd inspect --key`: every pattern's `KeyExplanation` for the key, as JSON.
enum KeyReport {
    /// The JSON document for `key` as given in the URL (a number for patterns keyed by an int field).
    static func json(key: String, engine: TaskEngines) -> String {
        var json = JSONWriter()
        json.beginObject()
        json.string("key", key)
        json.beginArray("patterns")
        for (p, pattern) in engine.automaton.patterns.enumerated() {
            let value = keyValue(key, pattern: pattern, automaton: engine.automaton)
            // A key lives in one task (co-partitioned topics): the one that holds something of it, if any does.
            let explanations = engine.tasks.map { task in
                (task, engine.engine(task)!.matchers[p].explain(key: value, automaton: engine.automaton))
            }
            guard let (task, explanation) = explanations.first(where: { !$0.1.isEmpty }) ?? explanations.first else {
                continue
            }
            json.beginObject()
            json.string("pattern", explanation.pattern)
            json.int("task", task.number)
            time(&json, "watermark", explanation.watermark)
            json.int("buffered_events", explanation.bufferedEvents)
            json.int("held_matches", explanation.heldMatches)
            if pattern.suppress != nil {
                json.beginArray("suppressed")
                for entry in explanation.suppressions {
                    json.beginObject()
                    if pattern.suppress?.by != nil { json.raw("by", AlertFormatter.json(entry.by)) }
                    json.int("last_alert_ts", Int(entry.lastAlert))
                    json.int("until", Int(entry.until))
                    json.endObject()
                }
                json.endArray()
            }
            json.beginArray("partial_matches")
            for partial in explanation.partial {
                json.beginObject()
                json.string("state", partial.state)
                json.beginArray("waits_for")
                for step in partial.waitsFor { json.string(nil, step) }
                json.endArray()
                json.beginArray("dies_on")
                for step in partial.diesOn { json.string(nil, step) }
                json.endArray()
                if partial.completesAtWindowEnd { json.raw("completes_at_window_end", "true") }
                if let end = partial.windowEnd {
                    json.int("window_end", Int(end))
                    // How much event time must still pass: the watermark, not the clock, ends windows.
                    if explanation.watermark > Int64.min {
                        json.int("window_end_beyond_watermark_ms", Int(end - explanation.watermark))
                    }
                }
                json.beginArray("bound")
                for bound in partial.bound {
                    json.beginObject()
                    json.string("step", bound.step)
                    json.string("topic", bound.origin.topic)
                    json.int("partition", Int(bound.origin.partition))
                    json.int("offset", Int(bound.origin.offset))
                    json.int("ts", Int(bound.timestamp))
                    json.endObject()
                }
                json.endArray()
                if !pattern.tables.isEmpty {
                    json.beginArray("rows")
                    for row in partial.rows {
                        json.beginObject()
                        json.string("table", row.table)
                        json.string("step", row.step)
                        json.raw("key", AlertFormatter.json(row.key))
                        json.int("as_of", Int(row.asOf))
                        if let fields = row.fields {
                            json.beginObject("row")
                            for (name, value) in fields { json.raw(name, AlertFormatter.json(value)) }
                            json.endObject()
                        } else {
                            json.raw("row", "null")
                        }
                        json.endObject()
                    }
                    json.endArray()
                }
                json.endObject()
            }
            json.endArray()
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return json.text
    }

    /// The key as the pattern's key field holds it: an int field's key is a number, others a string.
    private static func keyValue(_ key: String, pattern: PatternAutomaton, automaton: Automaton) -> Value {
        guard let first = pattern.keys.first else { return .string(key) }
        switch automaton.streams[first.stream].fields[first.field].type {
        case .int: return Int64(key).map(Value.int) ?? .string(key)
        default: return .string(key)
        }
    }

    /// An event time, or null before the first watermark.
    private static func time(_ json: inout JSONWriter, _ name: String, _ ms: Int64) {
        if ms == Int64.min { json.raw(name, "null") } else { json.int(name, Int(ms)) }
    }
}
