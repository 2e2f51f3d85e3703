import CEPRuntime
import CEPSchemas
import CurlHTTP
import Dispatch
import Foundation
import Synchronization

/// Writer schemas from a Confluent-compatible schema registry, by id, cached for the life of the process (a
/// registered schema never changes). Written for the REST API that Confluent Schema Registry, Redpanda, Karapace
/// and Apicurio's ccompat API serve: `GET /schemas/ids/{id}`, for Protobuf again with `?format=serialized` (the
/// file as a serialized FileDescriptorProto, which Confluent 7+ and Redpanda 25.2+ give; a registry that only has
/// the .proto text is refused with that reason), and `GET /subjects/{subject}/versions/{version}?format=serialized`
/// for the files a Protobuf schema imports.
///
/// A registry that does not answer (or answers 5xx, 401, 403, 429) is asked again with backoff, 0.1 s doubling to
/// 10 s, while the message that needs the schema waits: dead-lettering every message of an outage would lose them
/// all, where waiting only delays them (the consumer falls behind, and catches up after). `shouldStop` ends the
/// wait (the message is then left unread). A schema the registry does not have (404) or that cepd cannot read
/// makes its messages dead letters.
final class SchemaRegistryClient: RegistrySchemas, Sendable {
    private let base: String
    private let http: HTTPClient
    private let shouldStop: @Sendable () -> Bool
    private let cache = Mutex<[Int32: Result<RegistrySchema, RegistryLookupError>]>([:])
    private let logRepeats: LogRepeats
    /// For the backoff and the give-up time (a manual clock in tests: the backoff then takes no real time).
    private let clock: any DaemonClock
    /// How many requests got an answer, and how many did not.
    private let answered = Atomic<Int>(0)
    private let unanswered = Atomic<Int>(0)

    /// The requests so far, for the metrics.
    var requests: (answered: Int, unanswered: Int) {
        (answered.load(ordering: .relaxed), unanswered.load(ordering: .relaxed))
    }

    /// How long one request may go unanswered before the client gives up as if stopping (`cepd run`); nil: no limit.
    private let giveUpAfterMs: Int?

    init(
        url: String, options: HTTPClient.Options, giveUpAfterMs: Int? = nil, clock: any DaemonClock = SystemClock(),
        shouldStop: @escaping @Sendable () -> Bool
    ) {
        self.clock = clock
        logRepeats = LogRepeats(clock: clock)
        base = url.hasSuffix("/") ? String(url.dropLast()) : url
        http = HTTPClient(options: options)
        self.giveUpAfterMs = giveUpAfterMs
        self.shouldStop = shouldStop
    }

    /// How many schema ids it holds (found or not).
    var schemaCount: Int { cache.withLock { $0.count } }

    /// The URL without credentials, for messages.
    var displayURL: String { base.replacingOccurrences(of: #"//[^/@]*@"#, with: "//", options: .regularExpression) }

    func schema(id: Int32) throws(RegistryLookupError) -> RegistrySchema {
        if let known = cache.withLock({ $0[id] }) { return try known.get() }
        let result: Result<RegistrySchema, RegistryLookupError>
        do throws(RegistryLookupError) {
            result = .success(try fetch(id: id))
        } catch {
            if case .stopping = error { throw error }  // not cached: asked again after a restart
            result = .failure(error)
        }
        cache.withLock { $0[id] = result }
        return try result.get()
    }

    private func fetch(id: Int32) throws(RegistryLookupError) -> RegistrySchema {
        let answer = try object("/schemas/ids/\(id)", what: "schema id \(id)")
        let type = (answer["schemaType"] as? String) ?? "AVRO"
        switch type {
        case "AVRO":
            guard let text = answer["schema"] as? String else {
                throw .unusable("schema id \(id): the registry's answer has no 'schema'")
            }
            if let references = answer["references"] as? [Any], !references.isEmpty {
                throw .unusable("schema id \(id): an Avro schema with references to other subjects is not supported")
            }
            do throws(AvroSchemaParser.Invalid) {
                return .avro(try AvroSchemaParser.parse(Array(text.utf8)))
            } catch {
                throw .unusable("schema id \(id) is not a usable Avro schema: \(error.description)")
            }
        case "PROTOBUF":
            let serialized = try object("/schemas/ids/\(id)?format=serialized", what: "schema id \(id)")
            let main = try descriptor(serialized, what: "schema id \(id)")
            var imports: [[UInt8]] = []
            var seen: Set<String> = []
            try collectReferences(serialized, into: &imports, seen: &seen, depth: 0)
            do throws(ProtoDescriptorSet.Invalid) {
                return try ProtoDescriptorSet.registrySchema(main: main, imports: imports)
            } catch {
                throw .unusable("schema id \(id): \(error.description)")
            }
        default:
            throw .unusable("schema id \(id) is a \(type) schema; cepd reads AVRO and PROTOBUF from a registry")
        }
    }

    /// The files a Protobuf schema imports, by their registered subjects and versions (recursively).
    private func collectReferences(
        _ answer: [String: Any], into imports: inout [[UInt8]], seen: inout Set<String>, depth: Int
    ) throws(RegistryLookupError) {
        guard let references = answer["references"] as? [[String: Any]] else { return }
        guard depth < 16 else { throw .unusable("schema references nested deeper than 16") }
        for reference in references {
            guard let subject = reference["subject"] as? String,
                let version = (reference["version"] as? NSNumber)?.intValue
            else {
                throw .unusable("a schema reference without 'subject' and 'version'")
            }
            guard seen.insert("\(subject)/\(version)").inserted else { continue }
            let escaped =
                subject.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? subject
            let what = "subject \(subject) version \(version)"
            let referenced = try object("/subjects/\(escaped)/versions/\(version)?format=serialized", what: what)
            imports.append(try descriptor(referenced, what: what))
            try collectReferences(referenced, into: &imports, seen: &seen, depth: depth + 1)
        }
    }

    private func descriptor(_ answer: [String: Any], what: String) throws(RegistryLookupError) -> [UInt8] {
        guard let text = answer["schema"] as? String else {
            throw .unusable("\(what): the registry's answer has no 'schema'")
        }
        guard let data = Data(base64Encoded: text) else {
            throw .unusable(
                "\(what): the registry gave the .proto text, not a serialized descriptor (cepd asks with ?format=serialized, "
                    + "which Confluent Schema Registry 7+ and Redpanda 25.2+ answer)")
        }
        return Array(data)
    }

    /// Registers an Avro schema (its JSON) under `subject` (`POST /subjects/{subject}/versions`; a schema already
    /// there gets its id back) and returns its id: the header of the alerts written with it.
    func register(subject: String, avroSchema: String) throws(RegistryLookupError) -> Int32 {
        let escaped =
            subject.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? subject
        guard let body = try? JSONSerialization.data(withJSONObject: ["schema": avroSchema]) else {
            throw .unusable("the alert schema for \(subject) cannot be sent")
        }
        let answer = try object(
            "/subjects/\(escaped)/versions", body: Array(body), what: "registering the alert schema of \(subject)")
        guard let id = (answer["id"] as? NSNumber)?.int32Value else {
            throw .unusable("registering the alert schema of \(subject): the registry's answer has no 'id'")
        }
        return id
    }

    /// GETs (or with `body`, POSTs) `path` until the registry answers, and reads the answer as a JSON object.
    private func object(_ path: String, body: [UInt8]? = nil, what: String) throws(RegistryLookupError) -> [String: Any]
    {
        var delayMs = 100
        let started = clock.uptimeNanos
        while true {
            if let giveUpAfterMs, clock.uptimeNanos - started > UInt64(giveUpAfterMs) * 1_000_000 {
                throw .stopping(
                    "the schema registry at \(displayURL) gave no answer for \(what) in \(giveUpAfterMs / 1000) s")
            }
            let response: HTTPClient.Response
            do throws(HTTPClient.Failure) {
                if let body {
                    response = try http.post(base + path, json: body)
                } else {
                    response = try http.get(base + path)
                }
            } catch {
                unanswered.add(1, ordering: .relaxed)
                try wait(
                    &delayMs, "no answer from the schema registry at \(displayURL) for \(what): \(error.description)")
                continue
            }
            switch response.status {
            case 200:
                answered.add(1, ordering: .relaxed)
                guard let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
                    throw .unusable("\(what): the registry's answer is not a JSON object")
                }
                return object
            case 404:
                answered.add(1, ordering: .relaxed)
                throw .unusable("\(what) is not in the schema registry (404)")
            case 401, 403, 429, 500...599:
                unanswered.add(1, ordering: .relaxed)
                let hint = response.status == 401 || response.status == 403 ? " (check --schema-registry-auth)" : ""
                try wait(
                    &delayMs, "the schema registry at \(displayURL) answered \(response.status) for \(what)\(hint)")
            default:
                answered.add(1, ordering: .relaxed)
                let body = String(decoding: response.body.prefix(200), as: UTF8.self)
                throw .unusable("\(what): the schema registry answered \(response.status): \(body)")
            }
        }
    }

    /// Logs why, waits `delayMs` (doubling it up to 10 s), or gives up when stopping.
    private func wait(_ delayMs: inout Int, _ why: String) throws(RegistryLookupError) {
        if shouldStop() { throw .stopping(why) }
        if let line = logRepeats.admit("\(why); asking again in \(Double(delayMs) / 1000) s (its messages wait)") {
            Log.warning(line)
        }
        // In steps of 20 ms, so that a stop ends the wait soon.
        var waited = 0
        while waited < delayMs {
            if shouldStop() { throw .stopping(why) }
            clock.sleep(milliseconds: 20)
            waited += 20
        }
        delayMs = min(delayMs * 2, 10_000)
    }
}
