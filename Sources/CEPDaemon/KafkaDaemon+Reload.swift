import AdminHTTP
import CEPCompiler
import CEPCore
import CEPDriver
import CEPRuntime
import Foundation
import KafkaClient
import Logging
import Synchronization

/// Reloading the pattern files while running (SIGHUP, POST /reload).
extension KafkaDaemon {
    /// Refuses a reload: the log (with the field `reload=refused`, which tests wait on) and the answer say why.
    static func refuseReload(
        _ why: String, _ respond: EngineRequests.Reload, status: Int = 422, answer: String? = nil, details: String = ""
    ) {
        Log.error("reload refused: \(why); the running patterns go on" + details, ["reload": "refused"])
        respond?(.text("reload refused: \(answer ?? why)" + details, status: status))
    }

    /// Reads and compiles the pattern files again. With errors, or other input topics, the reload is refused (the
    /// running patterns go on, the log and the answer say why); otherwise the reader is asked to switch decoders,
    /// and the engine switches when it reaches that point (`finishReload`).
    mutating func beginReload(_ respond: EngineRequests.Reload, reader: KafkaReader) {
        guard pendingReload == nil else {
            respond?(.json("{\"error\":\"a reload is already under way\"}", status: 409))
            return
        }
        let files = options.patternPaths.joined(separator: ", ")
        let compilation: Compilation
        do throws(UsageError) {
            compilation = Compiler.compile(try PatternFiles.load(options.patternPaths))
        } catch {
            return Self.refuseReload(error.message, respond)
        }
        guard let automaton = compilation.automaton else {
            let diagnostics = DiagnosticRendering.render(compilation, colors: false)
            return Self.refuseReload(
                "\(files) has errors", respond, answer: "the pattern files have errors", details: "\n" + diagnostics)
        }
        let fresh = TaskEngines(automaton: automaton)
        let sameTopics =
            fresh.inputTopics == driver.engine.inputTopics
            && fresh.inputTopics.allSatisfy {
                fresh.rank(topic: $0, partition: 0) == driver.engine.rank(topic: $0, partition: 0)
            }
        guard sameTopics else {
            let message =
                "the patterns would read \(fresh.inputTopics.joined(separator: ", ")) instead of "
                + "\(driver.engine.inputTopics.joined(separator: ", ")) (in declaration order); restart cepd to change the topics it consumes"
            return Self.refuseReload(message, respond, status: 409)
        }
        var formatter = AlertFormatter(automaton: automaton)
        if let problem = registerAlertSchemas(&formatter) {
            return Self.refuseReload(problem, respond)
        }
        var decoders: [String: EventDecoder] = [:]
        for topic in fresh.inputTopics {
            decoders[topic] = EventDecoder(automaton: automaton, topic: topic, schemas: schemaRegistry)
        }
        pendingReload = (automaton, formatter, respond)
        reader.reload(decoders: decoders)
    }

    /// Registers the Avro schemas of the outputs that ask for it (`as avro "x.avsc" registry`) and gives
    /// `formatter` their ids; what went wrong, if anything. Blocks while the registry does not answer.
    func registerAlertSchemas(_ formatter: inout AlertFormatter) -> String? {
        for registration in formatter.registrations {
            guard let schemaRegistry else { return "no --schema-registry to register the alert schemas with" }
            do throws(RegistryLookupError) {
                let id = try schemaRegistry.register(subject: registration.subject, avroSchema: registration.schema)
                formatter.setSchemaID(id, pattern: registration.pattern, timeout: registration.timeout)
                Log.info(
                    "alert schema of \(automaton.patterns[registration.pattern].name) registered as \(registration.subject): id \(id)"
                )
            } catch {
                switch error {
                case .unusable(let reason), .stopping(let reason): return reason
                }
            }
        }
        return nil
    }

    /// Switches to the reloaded patterns at the reader's switch point: state carried over by `Engine.reloading`.
    mutating func finishReload() {
        guard let (automaton, formatter, respond) = pendingReload else { return }
        pendingReload = nil
        let report: Engine.RestoreReport
        do {
            let reloaded = try driver.engine.reloading(automaton)
            driver.replaceEngine(reloaded.tasks)
            report = reloaded.report
        } catch {
            // The reader already decodes for the new patterns: the old engine cannot go on.
            Log.error("reload failed while carrying the state over (\(error)); stopping without committing")
            respond?(.json("{\"error\":\"reload failed; cepd stops\"}", status: 500))
            halt(.stateFailed)
            return
        }
        self.automaton = automaton
        self.formatter = formatter
        driver.engine.setLimits(options.limits)
        droppedLogged = []
        // Engines kept aside for released tasks run the old patterns: such a task, given back, is restored from its
        // checkpoint under the new ones instead.
        lifecycle.dropParked()
        let changed = report.started.filter { name in !Set(report.restored).contains(name) }
        func list(_ names: [String]) -> String { names.isEmpty ? "none" : names.joined(separator: ", ") }
        Log.info(
            "reloaded \(options.patternPaths.joined(separator: ", ")): kept (with their state): \(list(report.restored)); "
                + "started empty (new or changed): \(list(changed)); dropped: \(list(report.dropped))",
            ["reload": "taken"])
        func array(_ names: [String]) -> String { "[" + names.map(JSONWriter.quoted).joined(separator: ",") + "]" }
        respond?(
            .json(
                "{\"kept\":\(array(report.restored)),\"started\":\(array(changed)),\"dropped\":\(array(report.dropped))}"
            ))
    }
}
