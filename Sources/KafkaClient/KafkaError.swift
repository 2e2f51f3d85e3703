internal import CRdKafka
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An error from librdkafka or from the broker, with librdkafka's name for the code and its message.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// librdkafka's error code (`rd_kafka_resp_err_t`; negative codes are the client's own).
    public var code: Int32
    /// The code's name, e.g. `_TRANSPORT` or `UNKNOWN_TOPIC_OR_PART`.
    public var name: String
    /// One line for humans.
    public var message: String

    /// An error made from a code, with librdkafka's text for it unless `message` is given.
    init(_ code: rd_kafka_resp_err_t, _ message: String? = nil) {
        self.code = code.rawValue
        self.name = String(cString: rd_kafka_err2name(code))
        self.message = message ?? String(cString: rd_kafka_err2str(code))
    }

    /// An error with no code of librdkafka's (bad configuration, a missing topic).
    public init(message: String) {
        self.code = -1
        self.name = "cepd"
        self.message = message
    }

    /// Takes over an `rd_kafka_error_t` and destroys it.
    init(taking error: OpaquePointer) {
        self.init(rd_kafka_error_code(error), String(cString: rd_kafka_error_string(error)))
        rd_kafka_error_destroy(error)
    }

    public var description: String { message }

    /// The broker connection failed or every broker is down: worth retrying.
    public var isTransport: Bool {
        code == RD_KAFKA_RESP_ERR__TRANSPORT.rawValue || code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN.rawValue
            || code == RD_KAFKA_RESP_ERR__RESOLVE.rawValue
    }

    /// A read started below the partition's first offset (or beyond its end) and the consumer was told not to move
    /// on (`auto.offset.reset=error`, as a `reading:` consumer is): what it asked for is gone.
    public var isOffsetOutOfRange: Bool {
        code == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET.rawValue || code == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE.rawValue
    }
}

/// Where librdkafka's log lines go (it calls back on its own threads).
public enum KafkaLog {
    /// Receives one line per log record, e.g. `librdkafka error FAIL: ...`. Set it once at start, before any client
    /// exists (the callback reads it from librdkafka's threads); the default writes the line to stderr as it is.
    nonisolated(unsafe) public static var sink: @Sendable (String) -> Void = { line in
        (line + "\n").withCString { _ = write(2, $0, strlen($0)) }
    }
}

/// A partition of a topic.
public struct TopicPartition: Sendable, Hashable, CustomStringConvertible {
    /// The topic.
    public var topic: String
    /// The partition number.
    public var partition: Int32

    /// Creates a topic partition.
    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// A position to commit or to resume from: the offset of the next message to read.
public struct PartitionOffset: Sendable, Hashable {
    /// The partition.
    public var partition: TopicPartition
    /// The offset of the next message to read.
    public var offset: Int64

    /// Creates a position.
    public init(_ partition: TopicPartition, offset: Int64) {
        self.partition = partition
        self.offset = offset
    }
}

/// A C list of topic partitions, destroyed with its owner.
///
/// The list is reached only inside `withList`: an optimised build may release an object right after the last
/// read of one of its properties, so a bare `list.pointer` passed to a C call could be destroyed before the call
/// uses it (librdkafka writes per-partition errors back into the list — into freed memory).
final class PartitionList {
    private let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(_ partitions: [TopicPartition], offsets: [Int64]? = nil) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(partitions.count, 1)))
        for (i, p) in partitions.enumerated() {
            let element = rd_kafka_topic_partition_list_add(pointer, p.topic, p.partition)!
            if let offsets { element.pointee.offset = offsets[i] }
        }
    }

    deinit { rd_kafka_topic_partition_list_destroy(pointer) }

    /// Calls `body` with the C list, which stays alive until `body` returns.
    func withList<R>(_ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws(KafkaError) -> R)
        throws(KafkaError) -> R
    {
        defer { withExtendedLifetime(self) {} }
        return try body(pointer)
    }

    /// The partitions, offsets and errors the list holds now.
    var elements: [(partition: TopicPartition, offset: Int64, error: rd_kafka_resp_err_t)] {
        withExtendedLifetime(self) { Self.elements(pointer) }
    }

    /// The partitions, offsets and per-partition errors of a C list.
    static func elements(
        _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    ) -> [(partition: TopicPartition, offset: Int64, error: rd_kafka_resp_err_t)] {
        (0..<Int(list.pointee.cnt)).map { i in
            let e = list.pointee.elems[i]
            return (TopicPartition(topic: String(cString: e.topic), partition: e.partition), e.offset, e.err)
        }
    }
}

/// librdkafka configuration built from key/value pairs, each checked by librdkafka itself.
enum Configuration {
    /// A new `rd_kafka_conf_t` (owned by the caller until `rd_kafka_new` takes it), or the first rejected key
    /// with librdkafka's reason.
    static func make(_ properties: [(key: String, value: String)]) throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        rd_kafka_conf_set_log_cb(conf) { _, level, facility, message in
            guard let facility, let message else { return }
            let text = String(cString: message)
            // -X settings go to both clients; each one warns about the other's keys. Not worth a line.
            if String(cString: facility) == "CONFWARN"
                && (text.contains("consumer property") || text.contains("producer property"))
            {
                return
            }
            Configuration.log(level: level, facility: String(cString: facility), text)
        }
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in properties {
            let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
            guard result == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                throw KafkaError(message: "-X \(key)=\(value): \(text(errstr))")
            }
        }
        return conf
    }

    static func log(level: Int32, facility: String, _ text: String) {
        let severity = level <= 3 ? "error" : level == 4 ? "warning" : "info"
        KafkaLog.sink("librdkafka \(severity) \(facility): \(text)")
    }

    /// The text of a C error buffer.
    static func text(_ buffer: [CChar]) -> String {
        buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// `rd_kafka_new` with a configuration; the configuration is consumed either way.
    static func client(_ type: rd_kafka_type_t, _ conf: OpaquePointer) throws(KafkaError) -> OpaquePointer {
        var errstr = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(message: text(errstr))
        }
        return handle
    }
}
