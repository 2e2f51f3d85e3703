import CEPRuntime
import KafkaClient

/// What `cepd --version` prints: cepd's own version, and the versions that decide whether state written by another
/// build can be read (an operator upgrading cepd checks these before pointing it at an old state directory).
enum CepdVersion {
    /// cepd's release number; bumped by hand when a release is cut.
    static let number = "0.1.0"

    /// The version line and what it was built against: the librdkafka linked at run time and the state formats.
    static var description: String {
        "cepd \(number)\n"
            + "librdkafka \(KafkaLibrary.version)\n"
            + "state formats: engine \(Engine.stateVersion), daemon checkpoint \(DaemonCheckpoint.currentVersion), "
            + "replay checkpoint \(ReplayCheckpoint.currentVersion)"
    }
}
