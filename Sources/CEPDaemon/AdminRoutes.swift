import AdminHTTP
import Foundation

/// Where the daemon stands, for `/readyz`: written by the engine thread, read by the admin server's thread.
final class DaemonStatus: @unchecked Sendable {
    // @unchecked: every property is behind `lock`.
    private let lock = NSLock()
    private var restored = false
    private var consuming = false
    private var assignedPartitions = 0
    private var stopping = false

    /// The checkpoint is restored (or there was none): the engine holds its state.
    func setRestored() { lock.withLock { restored = true } }
    /// The engine loop runs and the consumer has joined its group.
    func setConsuming(_ value: Bool) { lock.withLock { consuming = value } }
    /// The partitions this member owns now.
    func setAssigned(_ count: Int) { lock.withLock { assignedPartitions = count } }
    /// A stop was asked for: not ready any more (a load balancer or orchestrator stops routing to it).
    func setStopping() { lock.withLock { stopping = true } }

    /// Whether the engine loop runs (and so answers requests that need the engine).
    var isConsuming: Bool { lock.withLock { consuming && !stopping } }

    /// Ready: restored, consuming, at least one partition assigned, not stopping. The JSON says which part is not.
    func readiness() -> (ready: Bool, json: String) {
        lock.withLock {
            let ready = restored && consuming && assignedPartitions > 0 && !stopping
            return (
                ready,
                "{\"ready\":\(ready),\"restored\":\(restored),\"consuming\":\(consuming),"
                    + "\"assigned_partitions\":\(assignedPartitions),\"stopping\":\(stopping)}"
            )
        }
    }
}

/// Requests that need the engine, queued by the admin server's thread and answered by the engine thread between
/// batches (at least every 100 ms).
final class EngineRequests: @unchecked Sendable {
    // @unchecked: `queue` is behind `lock`.
    /// One request: explain a key (the key as given in the URL).
    struct Explain {
        var key: String
        var respond: @Sendable (AdminResponse) -> Void
    }

    /// One reload request: from POST /reload (with its answer), or from SIGHUP (none).
    typealias Reload = (@Sendable (AdminResponse) -> Void)?

    private let lock = NSLock()
    private var queue: [Explain] = []
    private var reloads: [Reload] = []

    func add(_ request: Explain) { lock.withLock { queue.append(request) } }
    func addReload(_ respond: Reload) { lock.withLock { reloads.append(respond) } }

    /// Takes every queued reload request.
    func takeReloads() -> [Reload] {
        lock.withLock {
            defer { reloads.removeAll() }
            return reloads
        }
    }

    /// Takes every queued request.
    func take() -> [Explain] {
        lock.withLock {
            defer { queue.removeAll() }
            return queue
        }
    }
}

/// The admin port's routes: `GET /metrics` (Prometheus text), `GET /healthz` (the process answers),
/// `GET /readyz` (200 when ready, 503 otherwise, with a JSON body saying why), `GET /keys/KEY` (what every
/// pattern holds for a key) and `POST /reload` (reload the pattern files), both answered by the engine thread.
struct AdminRoutes: Sendable {
    let metrics: DaemonMetrics
    let status: DaemonStatus
    let requests: EngineRequests

    /// Answers one request (on the admin server's thread).
    func handle(_ request: AdminRequest, respond: @escaping @Sendable (AdminResponse) -> Void) {
        switch (request.method, request.path) {
        case ("GET", "/metrics"), ("HEAD", "/metrics"):
            respond(AdminResponse(
                status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Array(metrics.render().utf8)))
        case ("GET", "/healthz"), ("HEAD", "/healthz"):
            respond(.text("ok"))
        case ("GET", "/readyz"), ("HEAD", "/readyz"):
            let (ready, json) = status.readiness()
            respond(.json(json, status: ready ? 200 : 503))
        case ("GET", let path) where path.hasPrefix("/keys/") && path.count > "/keys/".count:
            guard status.isConsuming else {
                respond(.json("{\"error\":\"cepd is not consuming yet (or is stopping): no engine to ask\"}", status: 503))
                return
            }
            requests.add(EngineRequests.Explain(key: String(path.dropFirst("/keys/".count)), respond: respond))
        case ("POST", "/reload"):
            guard status.isConsuming else {
                respond(.json("{\"error\":\"cepd is not consuming yet (or is stopping)\"}", status: 503))
                return
            }
            requests.addReload(respond)
        case (_, "/metrics"), (_, "/healthz"), (_, "/readyz"):
            respond(.text("method \(request.method) not allowed on \(request.path); use GET", status: 405))
        case (_, "/reload"):
            respond(.text("method \(request.method) not allowed on /reload; use POST", status: 405))
        case (_, let path) where path.hasPrefix("/keys/"):
            respond(.text("method \(request.method) not allowed on \(path); use GET", status: 405))
        default:
            respond(.text("no such path: \(request.path) (try /metrics, /healthz, /readyz, /keys/KEY)", status: 404))
        }
    }
}
