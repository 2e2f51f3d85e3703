import ArgumentParser
import CEPRuntime
import CurlHTTP
import Foundation

/// The schema registry options of `cepd serve` and `cepd run`, for streams declared `format ... registry`.
struct RegistryOptions: ParsableArguments {
    @Option(
        name: .customLong("schema-registry"),
        help: ArgumentHelp(
            "The schema registry's URL, for streams declared 'format avro registry' or 'format protobuf registry'.",
            discussion: "Default: $CEPD_SCHEMA_REGISTRY.", valueName: "url"))
    var url: String?

    @Option(
        name: .customLong("schema-registry-auth"),
        help: ArgumentHelp(
            "USER:PASSWORD for the registry's basic authentication. Default: $CEPD_SCHEMA_REGISTRY_AUTH (prefer it: a "
                + "command line is visible to other users).", valueName: "user:password"))
    var auth: String?

    @Option(
        name: .customLong("schema-registry-ca"),
        help: ArgumentHelp("PEM file of the CAs to trust for the registry's TLS.", valueName: "file"))
    var caFile: String?

    @Option(
        name: .customLong("schema-registry-cert"),
        help: ArgumentHelp("PEM client certificate for the registry (mutual TLS).", valueName: "file"))
    var certificate: String?

    @Option(
        name: .customLong("schema-registry-key"),
        help: ArgumentHelp("PEM key of --schema-registry-cert.", valueName: "file"))
    var key: String?

    /// The registry client the automaton's streams need, or nil when none reads schema ids; a usage error when one
    /// does and no registry is given, or an option is malformed.
    /// `registeringAlerts`: whether the caller produces alerts whose schemas it registers (`cepd serve`; `cepd run`
    /// writes alerts as JSON).
    func client(
        for automaton: Automaton, registeringAlerts: Bool = true, giveUpAfterMs: Int? = nil,
        clock: any DaemonClock = SystemClock(), shouldStop: @escaping @Sendable () -> Bool
    ) throws(UsageError) -> SchemaRegistryClient? {
        let environment = ProcessInfo.processInfo.environment
        func byID(_ format: EventFormat) -> Bool { if case .registry = format { true } else { false } }
        let reader = automaton.streams.first { byID($0.format) || byID($0.keyFormat) }
            .map { "stream '\($0.name)' (\($0.location)) reads schemas from a registry" }
        let registering = automaton.patterns.first {
            registeringAlerts && ($0.emit?.registration != nil || $0.timeoutEmit?.registration != nil)
        }
        .map { "pattern '\($0.name)' (\($0.location)) registers its alert schema" }
        guard let needs = reader ?? registering else { return nil }
        guard let url = url ?? environment["CEPD_SCHEMA_REGISTRY"], !url.isEmpty else {
            throw UsageError(
                message:
                    "\(needs): give the registry's URL with --schema-registry http://HOST:8081 (or $CEPD_SCHEMA_REGISTRY)"
            )
        }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw UsageError(message: "--schema-registry '\(url)': expected an http:// or https:// URL")
        }
        let auth = auth ?? environment["CEPD_SCHEMA_REGISTRY_AUTH"]
        if let auth, !auth.contains(":") {
            throw UsageError(message: "--schema-registry-auth: expected USER:PASSWORD")
        }
        for (flag, path) in [
            ("--schema-registry-ca", caFile), ("--schema-registry-cert", certificate), ("--schema-registry-key", key),
        ] {
            if let path, !FileManager.default.isReadableFile(atPath: path) {
                throw UsageError(message: "\(flag) '\(path)': cannot read the file")
            }
        }
        if (certificate == nil) != (key == nil) {
            throw UsageError(message: "--schema-registry-cert and --schema-registry-key go together")
        }
        return SchemaRegistryClient(
            url: url,
            options: HTTPClient.Options(
                basicAuth: auth, caFile: caFile, clientCertificate: certificate, clientKey: key),
            giveUpAfterMs: giveUpAfterMs, clock: clock, shouldStop: shouldStop)
    }
}
