public import ArgumentParser
import Foundation

/// The `cepd` command line: the root command and its subcommands.
public struct CepdCommand: ParsableCommand {
    /// The root command's configuration.
    public static let configuration = CommandConfiguration(
        commandName: "cepd",
        abstract: "Complex event processing for Kafka: match .cep patterns over event streams in event time.",
        version: CepdVersion.description,
        subcommands: [
            ServeCommand.self, CheckCommand.self, ExplainCommand.self, RunCommand.self, TestCommand.self,
            InspectCommand.self,
        ],
        defaultSubcommand: ServeCommand.self)

    /// Creates the command (argument parser).
    public init() {}

    /// Parses the process arguments, runs the command and exits. Usage errors exit 2, as `cepd check` documents.
    ///
    /// Synchronous on purpose: the commands block (the daemon waits on its reader thread, on Kafka, on a
    /// signal), which must not happen on a Swift concurrency pool thread; they run on the main thread.
    public static func runAndExit() -> Never {
        // A write past the file-size limit (ulimit -f) then fails with EFBIG, which cepd reports and stops on,
        // instead of killing the process without a word.
        signal(SIGXFSZ, SIG_IGN)
        // With a default subcommand, `cepd bogus` would be read as serve's arguments and answer "Missing expected
        // argument '--pattern'": say what is wrong instead.
        let arguments = CommandLine.arguments.dropFirst()
        if let first = arguments.first, !first.hasPrefix("-") {
            let names = configuration.subcommands.compactMap { $0.configuration.commandName }
            if !names.contains(first) && first != "help" {
                FileHandle.standardError.write(
                    Data(
                        "cepd: error: unknown command '\(first)'; the commands are \(names.joined(separator: ", ")) (cepd --help)\n"
                            .utf8))
                Foundation.exit(2)
            }
        }
        do {
            var command = try parseAsRoot()
            try command.run()
            Foundation.exit(0)
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            self.exit(withError: error)
        }
    }
}

/// A failure the user can fix, printed as one line: `cepd: error: <message>`.
struct UsageError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
