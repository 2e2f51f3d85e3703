import Foundation
import Testing

/// `cepd run` and `cepd test` as a user runs them.
@Suite struct ReplayCommandTests {
    let cli = CommandLineTests()

    func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Generates the fraud example with the repository's seeded generator.
    func generate(into dir: URL, events: Int, extra: [String] = []) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            [
                "python3", "examples/fraud/generate.py", "--events", "\(events)", "--users", "50",
                "--out", dir.path,
            ] + extra
        process.currentDirectoryURL = CommandLineTests.root
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
    }

    func replay(_ dir: URL, output: String) throws -> CommandLineTests.Run {
        try cli.cepd(replayArguments(dir, output: output, late: "late.jsonl", dead: "dead.jsonl"))
    }

    func replayArguments(
        _ dir: URL, output: String, late: String, dead: String, extra: [String] = [], tables: Bool = false
    ) -> [String] {
        var arguments = [
            "run", "--pattern", "patterns/fraud.cep", "--output", dir.appendingPathComponent(output).path,
            "--late", dir.appendingPathComponent(late).path, "--dead-letters", dir.appendingPathComponent(dead).path,
        ]
        var topics = ["logins", "geo", "payments", "confirmations"]
        if tables {
            arguments += ["--pattern", "examples/fraud/profiles.cep"]
            topics.insert("user-profiles", at: 0)
        }
        for topic in topics {
            arguments += ["--input", "\(topic)=\(dir.appendingPathComponent("\(topic).jsonl").path)"]
        }
        return arguments + extra
    }

    /// `cepd run --state-dir`, killed with SIGKILL three times at random moments and run again each time, ends
    /// with the output files of an uninterrupted replay; running the finished command again changes nothing. With
    /// `tables`, the fraud patterns and `examples/fraud/profiles.cep`, whose table's rows the checkpoints keep.
    @Test(arguments: [false, true])
    func aReplayKilledAnywhereResumesToTheUninterruptedOutputs(tables: Bool) throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try generate(
            into: dir, events: 60_000,
            extra: ["--late", "0.005", "--malformed", "0.005"] + (tables ? ["--profiles", "300"] : []))
        let reference = try cli.cepd(
            replayArguments(dir, output: "ref.jsonl", late: "ref-late.jsonl", dead: "ref-dead.jsonl", tables: tables))
        try #require(reference.status == 0, "\(reference.stderr)")
        if tables { #expect(reference.stderr.contains("takeover_by_profile: "), "\(reference.stderr)") }
        let state = dir.appendingPathComponent("state").path
        let arguments = replayArguments(
            dir, output: "alerts.jsonl", late: "late.jsonl", dead: "dead.jsonl",
            extra: ["--state-dir", state, "--checkpoint-interval", "100ms"], tables: tables)
        var delays: [Double] = []
        let alerts = dir.appendingPathComponent("alerts.jsonl").path
        func size() -> Int { (try? FileManager.default.attributesOfItem(atPath: alerts)[.size] as? Int) ?? 0 }
        for _ in 0..<3 {
            let before = size()
            let process = Process()
            process.executableURL = CommandLineTests.root.appendingPathComponent(".build/debug/cepd")
            process.arguments = arguments
            process.currentDirectoryURL = CommandLineTests.root
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Killed at a random moment after the run has made progress (its alerts file grew: a checkpoint is at
            // most 100 ms away), not after a guess of time: on a busy machine a debug build may take seconds to
            // start, and three kills before the first checkpoint would leave nothing to resume from.
            let deadline = Date().addingTimeInterval(120)
            while size() <= before && process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            try #require(
                size() > before, "the replay wrote no alert within 120 s of its start (waited for \(alerts) to grow)")
            let delay = Double.random(in: 0...0.4)
            delays.append(delay)
            Thread.sleep(forTimeInterval: delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(
                process.terminationReason == .uncaughtSignal, "the replay ended before it was killed (after \(delay) s)"
            )
        }
        let last = try cli.cepd(arguments)
        #expect(last.status == 0, "\(last.stderr)")
        #expect(last.stderr.contains("resumed from checkpoint"), "\(last.stderr)")
        func read(_ name: String) throws -> String {
            try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
        }
        #expect(try read("alerts.jsonl") == read("ref.jsonl"), "alerts differ after kills at \(delays) s")
        #expect(try read("late.jsonl") == read("ref-late.jsonl"), "late events differ after kills at \(delays) s")
        // Dead letters: the same lines; a resumed reader reports a malformed line at its start, so the order may differ.
        #expect(
            try read("dead.jsonl").split(separator: "\n").sorted()
                == read("ref-dead.jsonl").split(separator: "\n").sorted())
        #expect(try !read("ref.jsonl").isEmpty && !read("ref-dead.jsonl").isEmpty)
        // The finished replay, run again, changes nothing.
        let again = try cli.cepd(arguments)
        #expect(again.status == 0 && again.stderr.contains("resumed from checkpoint"))
        #expect(try read("alerts.jsonl") == read("ref.jsonl"))
        // Another set of inputs (without confirmations, the last --input) is refused, not mixed in.
        // Without: --input confirmations=…, --state-dir …, --checkpoint-interval ….
        let withoutConfirmations = Array(arguments.dropLast(6))
        let other = try cli.cepd(withoutConfirmations + ["--state-dir", state])
        #expect(other.status == 2 && other.stderr.contains("is of a replay of other inputs"), "\(other.stderr)")
    }

    @Test func replayIsByteIdenticalRunAfterRun() throws {
        let dir = try directory()
        try generate(into: dir, events: 5_000, extra: ["--late", "0.01", "--malformed", "0.01"])
        let first = try replay(dir, output: "a.jsonl")
        #expect(first.status == 0, "\(first.stderr)")
        let second = try replay(dir, output: "b.jsonl")
        let a = try Data(contentsOf: dir.appendingPathComponent("a.jsonl"))
        let b = try Data(contentsOf: dir.appendingPathComponent("b.jsonl"))
        #expect(!a.isEmpty && a == b)
        #expect(second.stderr.contains("account_takeover:"))
        // Late and malformed lines are reported, with their reason, never dropped silently.
        let late = try String(contentsOf: dir.appendingPathComponent("late.jsonl"), encoding: .utf8)
        let dead = try String(contentsOf: dir.appendingPathComponent("dead.jsonl"), encoding: .utf8)
        #expect(late.split(separator: "\n").count > 5 && late.contains("\"reason\":\"late\""))
        #expect(dead.split(separator: "\n").count > 5 && dead.contains("\"reason\":"))
        #expect(second.stderr.contains("dead letters: \(dead.split(separator: "\n").count)"))
        // The late counter counts what the late output holds (one line per late event).
        #expect(second.stderr.contains("late events: \(late.split(separator: "\n").count)"))
    }

    @Test func badInputOptionsAreOneLineErrors() throws {
        let noEquals = try cli.cepd(["run", "--pattern", "patterns/fraud.cep", "--input", "logins.jsonl"])
        #expect(noEquals.status == 2)
        #expect(noEquals.stderr.contains("must be TOPIC=FILE"))
        let unknownTopic = try cli.cepd(["run", "--pattern", "patterns/fraud.cep", "--input", "login=x.jsonl"])
        #expect(unknownTopic.status == 2)
        #expect(unknownTopic.stderr.contains("no stream reads topic 'login'"))
        let missing = try cli.cepd(["run", "--pattern", "patterns/fraud.cep", "--input", "logins=/nonexistent.jsonl"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("cannot read '/nonexistent.jsonl'"))
        let stateToStdout = try cli.cepd([
            "run", "--pattern", "patterns/fraud.cep", "--input", "logins=x.jsonl", "--state-dir", "/tmp/x",
        ])
        #expect(stateToStdout.status == 2)
        #expect(stateToStdout.stderr.contains("--state-dir needs --output"))
    }

    @Test func shippedPatternCasesPass() throws {
        for file in ["patterns/fraud.cep", "patterns/operations.cep"] {
            let run = try cli.cepd(["test", file])
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            #expect(run.stdout.contains(", 0 failed"))
        }
    }

    @Test func aFailingCaseExitsOneWithADiff() throws {
        let dir = try directory()
        let cases = dir.appendingPathComponent("wrong.cases")
        try Data(
            """
            case "expects the wrong country"
              logins   {"user":"u1","ip":"10.0.0.1","country":"DE","ts":1000}
              geo      {"user":"u1","country":"BR","lat":0,"lon":0,"ts":2000}
              payments {"user":"u1","id":"p1","amount":1500.0,"currency":"EUR","ts":3000}
              expect account_takeover {"user":"u1","seen_in":"FR"}
            """.utf8
        ).write(to: cases)
        let run = try cli.cepd(["test", "patterns/fraud.cep", "--cases", cases.path])
        #expect(run.status == 1)
        #expect(run.stdout.contains("✘ expects the wrong country"))
        #expect(run.stdout.contains("missing:    account_takeover {\"user\":\"u1\",\"seen_in\":\"FR\"}"))
        #expect(run.stdout.contains("unexpected: account_takeover {\"user\":\"u1\""))
        #expect(run.stdout.contains("1 case, 1 failed"))
    }

    /// `expect suppressed PATTERN N` claims the matches `suppress` kept back; a count other than the one given (0
    /// when none is) fails the case, as an unexpected alert does.
    @Test func casesExpectSuppressedAlerts() throws {
        let dir = try directory()
        let cep = dir.appendingPathComponent("suppress.cep")
        try Data(
            """
            stream payments from "payments" {
              key user  time ts
              fields { user: string, amount: float, card: string, ts: time }
            }
            pattern big_payment {
              match p: payments where p.amount > 1000
              within 1m
              suppress 1h by p.card
              emit to "alerts" { user: p.user, card: p.card, amount: p.amount }
            }
            """.utf8
        ).write(to: cep)
        // The events and the three alerts they make, in each case.
        let payments = """
              payments {"user":"u1","amount":1500.0,"card":"c1","ts":1000}
              payments {"user":"u1","amount":2500.0,"card":"c1","ts":60000}
              payments {"user":"u1","amount":3500.0,"card":"c2","ts":61000}
              payments {"user":"u1","amount":4500.0,"card":"c1","ts":3601000}
              expect big_payment {"card":"c1","amount":1500.0}
              expect big_payment {"card":"c2","amount":3500.0}
              expect big_payment {"card":"c1","amount":4500.0}
            """
        let cases = dir.appendingPathComponent("suppress.cases")
        try Data(
            """
            case "one alert per card and hour"
            \(payments)
              expect suppressed big_payment 1
            case "suppression not expected"
            \(payments)
            case "suppression of a pattern that does not exist"
            \(payments)
              expect suppressed big_payment 1
              expect suppressed big_paymnet 1
            """.utf8
        ).write(to: cases)
        let run = try cli.cepd(["test", cep.path, "--cases", cases.path])
        #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("✔ one alert per card and hour"), "\(run.stdout)")
        #expect(run.stdout.contains("✘ suppression not expected"))
        #expect(run.stdout.contains("suppressed alerts of big_payment: 1, expected 0"))
        #expect(run.stdout.contains("✘ suppression of a pattern that does not exist"))
        #expect(
            run.stdout.contains("'expect suppressed big_paymnet 1': no pattern named 'big_paymnet'"), "\(run.stdout)")
        #expect(run.stdout.contains("3 cases, 2 failed"))
    }

    static let tableSource = """
        stream logins from "logins" { key user  time ts  fields { user: string, country: string, ts: time } }
        stream payments from "payments" { key user  time ts  fields { user: string, amount: float, ts: time } }
        table profiles from "user-profiles" {
          key user
          fields { user: string, home: string, limit: float? }
        }
        pattern foreign_payment {
          match l: logins where l.country != (lookup(profiles, l.user).home ?? l.country)
             -> p: payments where p.amount > (lookup(profiles, p.user).limit ?? 1000)
          within 10m
          emit to "alerts" { user: l.user, home: lookup(profiles, l.user).home, amount: p.amount }
        }
        """

    /// A table read from a file by `cepd run` (kcat lines: the message timestamp is the row's time, a null payload
    /// deletes the key's row), and from `.cases` lines: rows and tombstones change what later events see.
    @Test func tablesFromFilesAndCases() throws {
        let dir = try directory()
        let cep = dir.appendingPathComponent("tables.cep")
        try Data(Self.tableSource.utf8).write(to: cep)
        func kcat(_ topic: String, _ lines: [(ts: Int64, key: String?, payload: String?)]) throws -> String {
            let path = dir.appendingPathComponent("\(topic).kcat").path
            let text = lines.enumerated().map { offset, line in
                let key = line.key.map { "\"\($0)\"" } ?? "null"
                let payload =
                    line.payload.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\\\"") + "\"" } ?? "null"
                return
                    #"{"topic":"\#(topic)","partition":0,"offset":\#(offset),"tstype":"create","ts":\#(line.ts),"key":\#(key),"payload":\#(payload)}"#
            }.joined(separator: "\n")
            try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: path))
            return "\(topic)=\(path)"
        }
        let profiles = try kcat(
            "user-profiles",
            [
                (0, "u1", #"{"user":"u1","home":"DE","limit":100}"#),
                (0, "u2", #"{"user":"u2","home":"DE","limit":100}"#),
                (5_000, "u1", nil),  // u1's row deleted before its payment
                (5_000, nil, nil),  // no key: a dead letter
            ])
        let logins = try kcat(
            "logins",
            [
                (1_000, "u1", #"{"user":"u1","country":"FR","ts":1000}"#),
                (1_000, "u2", #"{"user":"u2","country":"FR","ts":1000}"#),
            ])
        let payments = try kcat(
            "payments",
            [
                (6_000, "u1", #"{"user":"u1","amount":500,"ts":6000}"#),
                (6_000, "u2", #"{"user":"u2","amount":500,"ts":6000}"#),
            ])
        let output = dir.appendingPathComponent("alerts.jsonl")
        let run = try cli.cepd([
            "run", "--pattern", cep.path, "--input", logins, "--input", payments, "--input", profiles,
            "--input-format", "kcat", "--output", output.path, "--dead-letters",
            dir.appendingPathComponent("dead.jsonl").path,
        ])
        #expect(run.status == 0, "\(run.stderr)")
        // Three updates (the keyless tombstone is a dead letter); u1's row deleted and forgotten at the end.
        #expect(run.stderr.contains("tables: 3 updates (profiles: 1 keys)"), "\(run.stderr)")
        let alerts = try String(contentsOf: output, encoding: .utf8).split(separator: "\n")
        // u1: 500 > (deleted → 1000) fails; u2: 500 > 100 matches, its alert reading the row as of 6 s.
        #expect(alerts.count == 1, "\(alerts)")
        #expect(alerts.first?.hasPrefix(#"{"user":"u2","home":"DE","amount":500.0,"#) == true, "\(alerts)")
        let dead = try String(contentsOf: dir.appendingPathComponent("dead.jsonl"), encoding: .utf8)
        #expect(dead.contains("a tombstone without a message key"), "\(dead)")

        let cases = dir.appendingPathComponent("tables.cases")
        try Data(
            #"""
            case "a row, then its tombstone"
              user-profiles timestamp=0 {"user":"u1","home":"DE","limit":100}
              logins {"user":"u1","country":"FR","ts":1000}
              payments {"user":"u1","amount":500,"ts":2000}
              expect foreign_payment {"user":"u1","home":"DE"}
              user-profiles key=u1 timestamp=3000 null
              logins {"user":"u1","country":"FR","ts":4000}
              payments {"user":"u1","amount":500,"ts":5000}
            """#.utf8
        ).write(to: cases)
        let test = try cli.cepd(["test", cep.path, "--cases", cases.path])
        #expect(test.status == 0, "\(test.stdout)\(test.stderr)")

        // What does not keep table rows yet says so in one line instead of running wrong.
        let serve = try cli.cepd(["serve", "--pattern", cep.path, "--brokers", "127.0.0.1:1"])
        #expect(serve.status == 2 && serve.stderr.contains("does not read tables yet"), "\(serve.stderr)")
    }
}
