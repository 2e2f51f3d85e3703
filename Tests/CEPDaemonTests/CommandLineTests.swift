import Foundation
import Testing

/// The `cepd` binary as a user runs it: exit codes and output of `check` and `explain`.
@Suite struct CommandLineTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func cepd(_ arguments: [String]) throws -> Run {
        let binary = Self.root.appendingPathComponent(".build/debug/cepd")
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "build cepd first (swift build)")
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = Self.root
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    func temporaryFile(_ text: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-\(UUID().uuidString).cep")
        try Data(text.utf8).write(to: url)
        return url.path
    }

    @Test func checkOfShippedPatternsExitsZero() throws {
        let run = try cepd(["check", "patterns/fraud.cep", "patterns/operations.cep"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("ok: 7 patterns"))
    }

    @Test func checkWithErrorsExitsOneAndPointsAtTheMistake() throws {
        let path = try temporaryFile(
            "stream s from \"t\" { key k fields { k: string } }\npattern p { match a: sx emit to \"o\" { k: a.k } }\n")
        let run = try cepd(["check", path])
        #expect(run.status == 1)
        #expect(run.stderr.contains("\(path):2:22: error: no stream named 'sx' [unknown-stream]"))
        #expect(run.stderr.contains("help: did you mean 's'?"))
    }

    @Test func checkWithWarningsOnlyExitsZero() throws {
        let path = try temporaryFile(
            "stream s from \"t\" { key k fields { k: string } }\npattern p { match a: s -> b: s emit to \"o\" { k: a.k } }\n"
        )
        let run = try cepd(["check", path])
        #expect(run.status == 0)
        #expect(run.stderr.contains("[unbounded-state]"))
    }

    @Test func usageErrorsExitTwo() throws {
        #expect(try cepd(["check", "does/not/exist.cep"]).status == 2)
        #expect(try cepd(["check", "--format", "xml", "patterns/fraud.cep"]).status == 2)
        #expect(try cepd(["explain", "patterns/fraud.cep", "--name", "nope"]).status == 2)
    }

    @Test func checkJSONIsMachineReadable() throws {
        let path = try temporaryFile("pattern p { match a: s emit to \"o\" { k: a.k } }\n")
        let run = try cepd(["check", "--format", "json", path])
        #expect(run.status == 1)
        let parsed = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]]
        #expect(parsed?.first?["id"] as? String == "unknown-stream")
        #expect(parsed?.first?["line"] as? Int == 1)
    }

    @Test func explainPrintsStatesAndDot() throws {
        let text = try cepd(["explain", "patterns/fraud.cep", "--name", "account_takeover"])
        #expect(text.status == 0)
        #expect(text.stdout.contains("within:   10m"))
        #expect(text.stdout.contains("take    -> $final     when from payments and (p.amount > 1000)"))
        let dot = try cepd(["explain", "patterns/fraud.cep", "--format", "dot"])
        #expect(dot.status == 0)
        #expect(dot.stdout.hasPrefix("digraph cepd {"))
        #expect(dot.stdout.contains("cluster_unconfirmed_large_payment"))
        // `suppress` shows in both forms.
        #expect(dot.stdout.contains(#"label="pattern impossible_travel (within 2h), suppress 1h";"#))
        let travel = try cepd(["explain", "patterns/fraud.cep", "--name", "impossible_travel"])
        #expect(travel.stdout.contains("suppress: 1h after an alert, per key (by the last event's time)"))
    }
}
