internal import CRdKafka

/// Facts about the librdkafka library cepd runs against.
public enum KafkaLibrary {
    /// The runtime library's version as a number, e.g. `0x020002ff` for 2.0.2 (wraps `rd_kafka_version`).
    public static var versionNumber: Int { Int(rd_kafka_version()) }

    /// The runtime library's version as text, e.g. `2.0.2` (wraps `rd_kafka_version_str`).
    public static var version: String { String(cString: rd_kafka_version_str()) }

    /// Whether this librdkafka has the configuration property `name` (newer versions add some; setting one an older
    /// version lacks fails the whole configuration).
    public static func hasProperty(_ name: String, sampleValue: String) -> Bool {
        guard let conf = rd_kafka_conf_new() else { return false }
        defer { rd_kafka_conf_destroy(conf) }
        var error = [CChar](repeating: 0, count: 256)
        return rd_kafka_conf_set(conf, name, sampleValue, &error, error.count) != RD_KAFKA_CONF_UNKNOWN
    }

    /// Whether this librdkafka can talk to Tansu: 2.10 or newer (Debian's 2.0.2 fails the ApiVersion handshake).
    public static var supportsTansu: Bool { versionNumber >= 0x020a_0000 }
}
