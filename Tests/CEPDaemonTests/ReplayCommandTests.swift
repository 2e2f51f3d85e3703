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
        process.arguments = ["python3", "examples/fraud/generate.py", "--events", "\(events)", "--users", "50",
            "--out", dir.path] + extra
        process.currentDirectoryURL = CommandLineTests.root
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
    }

    func replay(_ dir: URL, output: String) throws -> CommandLineTests.Run {
        try cli.cepd(
            ["run", "--pattern", "patterns/fraud.cep", "--output", dir.appendingPathComponent(output).path,
             "--late", dir.appendingPathComponent("late.jsonl").path,
             "--dead-letters", dir.appendingPathComponent("dead.jsonl").path]
                + ["logins", "geo", "payments", "confirmations"].flatMap {
                    ["--input", "\($0)=\(dir.appendingPathComponent("\($0).jsonl").path)"]
                })
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
}
