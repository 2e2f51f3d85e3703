import ArgumentParser
import CEPRuntime

/// `--max-partial-matches` and `--max-partial-matches-per-key`, shared by `cepd serve` and `cepd run`.
struct LimitOptions: ParsableArguments {
    @Option(
        name: .customLong("max-partial-matches"), parsing: .unconditional,
        help: ArgumentHelp(
            "Cap on each pattern's open partial matches over all keys; over it, the oldest are dropped (counted, logged).",
            valueName: "n"))
    var total: Int?

    @Option(
        name: .customLong("max-partial-matches-per-key"), parsing: .unconditional,
        help: ArgumentHelp(
            "Cap on each pattern's open partial matches per key; over it, the key's oldest are dropped. Default: none, "
                + "except \(PartialMatchLimits.defaultBranchingPerKey) for patterns with '->>' or 'any' (their partial "
                + "matches can double with every event of a key).",
            valueName: "n"))
    var perKey: Int?

    /// The caps, or a usage error for a cap below 1.
    func limits() throws(UsageError) -> PartialMatchLimits {
        for (value, flag) in [(total, "--max-partial-matches"), (perKey, "--max-partial-matches-per-key")] {
            if let value, value < 1 {
                throw UsageError(message: "\(flag) \(value): expected a number of partial matches, 1 or more")
            }
        }
        return PartialMatchLimits(
            perKey: perKey, total: total, branchingPerKey: PartialMatchLimits.defaultBranchingPerKey)
    }
}
