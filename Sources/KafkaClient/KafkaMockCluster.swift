internal import CRdKafka

/// librdkafka's in-process mock Kafka cluster, for fault tests: brokers that can be taken down and brought back,
/// and injected request errors. Clients (in this process or another) connect to `bootstrapServers`.
// @unchecked: librdkafka's mock cluster handle is thread-safe, and it is the only state.
public final class KafkaMockCluster: @unchecked Sendable {
    /// Kafka protocol request types whose responses can carry injected errors.
    public enum Request: Int16, Sendable {
        /// Produce (ApiKey 0).
        case produce = 0
        /// Fetch (ApiKey 1).
        case fetch = 1
    }

    /// Broker-side error codes to inject (Kafka protocol codes).
    public enum InjectedError: Int32, Sendable {
        /// NOT_LEADER_OR_FOLLOWER: retriable.
        case notLeader = 6
        /// REQUEST_TIMED_OUT: retriable.
        case requestTimedOut = 7
        /// MESSAGE_TOO_LARGE: permanent for that message.
        case messageTooLarge = 10
        /// TOPIC_AUTHORIZATION_FAILED: permanent.
        case topicAuthorizationFailed = 29
    }

    // The mock cluster lives inside a client handle; this one exists only to own it.
    private let owner: OpaquePointer
    private let cluster: OpaquePointer

    /// Starts a mock cluster of `brokers` brokers (ids 1...brokers).
    public init(brokers: Int32 = 1) throws(KafkaError) {
        let conf = try Configuration.make([])
        owner = try Configuration.client(RD_KAFKA_PRODUCER, conf)
        guard let cluster = rd_kafka_mock_cluster_new(owner, brokers) else {
            rd_kafka_destroy(owner)
            throw KafkaError(message: "could not start librdkafka's mock cluster")
        }
        self.cluster = cluster
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(owner)
    }

    /// The `bootstrap.servers` value for clients.
    public var bootstrapServers: String { String(cString: rd_kafka_mock_cluster_bootstraps(cluster)) }

    /// Creates a topic.
    public func createTopic(_ name: String, partitions: Int32) throws(KafkaError) {
        let err = rd_kafka_mock_topic_create(cluster, name, partitions, 1)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err) }
    }

    /// Takes a broker down (its connections close) or brings it back.
    public func setBroker(_ id: Int32, up: Bool) {
        if up { _ = rd_kafka_mock_broker_set_up(cluster, id) } else { _ = rd_kafka_mock_broker_set_down(cluster, id) }
    }

    /// The next `errors.count` requests of this type get these errors, in order.
    public func inject(_ errors: [InjectedError], into request: Request) {
        var codes = errors.map { rd_kafka_resp_err_t(rawValue: $0.rawValue) }
        rd_kafka_mock_push_request_errors_array(cluster, request.rawValue, codes.count, &codes)
    }
}
