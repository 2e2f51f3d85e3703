import CCurl

/// Blocking HTTP(S) GET and POST over libcurl's easy interface, with the TLS and authentication options a schema
/// registry needs. It knows nothing of registries: a URL (and a body) in, a status and a body out.
public struct HTTPClient: Sendable {
    /// How to reach the server.
    public struct Options: Sendable, Hashable {
        /// `USER:PASSWORD` for HTTP basic authentication, if any.
        public var basicAuth: String?
        /// A PEM file of the certificate authorities to trust (instead of the system's).
        public var caFile: String?
        /// A PEM client certificate and its key, for mutual TLS.
        public var clientCertificate: String?
        public var clientKey: String?
        /// Give up on one request after this long (connect included).
        public var timeoutMs: Int

        /// Options; a 10 s timeout by default.
        public init(
            basicAuth: String? = nil, caFile: String? = nil, clientCertificate: String? = nil, clientKey: String? = nil,
            timeoutMs: Int = 10_000
        ) {
            self.basicAuth = basicAuth
            self.caFile = caFile
            self.clientCertificate = clientCertificate
            self.clientKey = clientKey
            self.timeoutMs = timeoutMs
        }
    }

    /// A request that got no HTTP answer: the server is unreachable, TLS failed, or it timed out.
    public struct Failure: Error, CustomStringConvertible {
        /// libcurl's words for it.
        public var description: String
    }

    /// An answer.
    public struct Response: Sendable {
        /// The HTTP status.
        public var status: Int
        /// The body (at most 64 MiB: a schema, not data).
        public var body: [UInt8]
    }

    private static let initialized: Bool = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK }()

    public let options: Options

    /// A client with these options.
    public init(options: Options) {
        self.options = options
    }

    /// GETs `url` (with `Accept: application/vnd.schemaregistry.v1+json, application/json`).
    public func get(_ url: String) throws(Failure) -> Response {
        try request(url, body: nil)
    }

    /// POSTs `body` (JSON, `Content-Type: application/vnd.schemaregistry.v1+json`) to `url`.
    public func post(_ url: String, json body: [UInt8]) throws(Failure) -> Response {
        try request(url, body: body)
    }

    private func request(_ url: String, body: [UInt8]?) throws(Failure) -> Response {
        guard Self.initialized, let curl = curl_easy_init() else {
            throw Failure(description: "libcurl could not start")
        }
        defer { curl_easy_cleanup(curl) }
        final class Sink {
            var body: [UInt8] = []
            var overflow = false
        }
        let sink = Sink()
        let context = Unmanaged.passUnretained(sink).toOpaque()
        var headers: UnsafeMutablePointer<curl_slist>? = curl_slist_append(
            nil, "Accept: application/vnd.schemaregistry.v1+json, application/json")
        if body != nil { headers = curl_slist_append(headers, "Content-Type: application/vnd.schemaregistry.v1+json") }
        let payload = body ?? []
        defer { curl_slist_free_all(headers) }
        var error = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let code: CURLcode = error.withUnsafeMutableBufferPointer { errorBuffer in
            _ = cepd_curl_set_string(curl, CURLOPT_URL, url)
            _ = cepd_curl_set_long(curl, CURLOPT_NOSIGNAL, 1)
            _ = cepd_curl_set_long(curl, CURLOPT_TIMEOUT_MS, options.timeoutMs)
            _ = cepd_curl_set_long(curl, CURLOPT_CONNECTTIMEOUT_MS, options.timeoutMs)
            _ = cepd_curl_set_pointer(curl, CURLOPT_ERRORBUFFER, errorBuffer.baseAddress)
            _ = cepd_curl_set_pointer(curl, CURLOPT_HTTPHEADER, headers)
            _ = cepd_curl_set_long(curl, CURLOPT_PROTOCOLS, Int(CURLPROTO_HTTP | CURLPROTO_HTTPS))
            if let auth = options.basicAuth {
                _ = cepd_curl_set_long(curl, CURLOPT_HTTPAUTH, cepd_curlauth_basic)
                _ = cepd_curl_set_string(curl, CURLOPT_USERPWD, auth)
            }
            if let ca = options.caFile { _ = cepd_curl_set_string(curl, CURLOPT_CAINFO, ca) }
            if let certificate = options.clientCertificate {
                _ = cepd_curl_set_string(curl, CURLOPT_SSLCERT, certificate)
            }
            if let key = options.clientKey { _ = cepd_curl_set_string(curl, CURLOPT_SSLKEY, key) }
            if body != nil {
                _ = cepd_curl_set_long(curl, CURLOPT_POST, 1)
                _ = cepd_curl_set_long(curl, CURLOPT_POSTFIELDSIZE, payload.count)
                // COPYPOSTFIELDS copies the bytes at once: the pointer need only live through the call.
                _ = payload.withUnsafeBytes {
                    cepd_curl_set_pointer(
                        curl, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: $0.baseAddress))
                }
            }
            _ = cepd_curl_set_pointer(curl, CURLOPT_WRITEDATA, context)
            _ = cepd_curl_set_write(curl) { data, size, count, context in
                let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
                let length = size * count
                guard sink.body.count + length <= 64 << 20 else {
                    sink.overflow = true
                    return 0  // libcurl stops with CURLE_WRITE_ERROR
                }
                data!.withMemoryRebound(to: UInt8.self, capacity: length) {
                    sink.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
                }
                return length
            }
            return curl_easy_perform(curl)
        }
        guard code == CURLE_OK else {
            if sink.overflow { throw Failure(description: "the answer is larger than 64 MiB") }
            let detail = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw Failure(description: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)
        }
        var status = 0
        _ = cepd_curl_response_code(curl, &status)
        return Response(status: status, body: sink.body)
    }
}
