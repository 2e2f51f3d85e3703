import AdminHTTP
import Foundation
import Synchronization

/// Where the daemon stands, for `/readyz`: written by the engine thread, read by the admin server's thread.
final class DaemonStatus: Sendable {
    private struct State {
        var restored = false
        var consuming = false
        var assignedPartitions = 0
        var stopping = false
        var progress = Progress()
    }

    /// How far the engine thread has got, published at the end of each turn of its loop: what in-process tests
    /// wait for (a signal, not a guess of time).
    struct Progress: Sendable, Equatable {
        /// Turns of the loop so far (each applies at most one batch, then looks at the clock).
        var turns = 0
        var events = 0
        var alerts = 0
        /// Checkpoints written (with --state-dir).
        var checkpoints = 0
    }

    private let state = Mutex(State())

    /// The checkpoint is restored (or there was none): the engine holds its state.
    func setRestored() { state.withLock { $0.restored = true } }
    /// The engine loop runs and the consumer has joined its group.
    func setConsuming(_ value: Bool) { state.withLock { $0.consuming = value } }
    /// The partitions this member owns now.
    func setAssigned(_ count: Int) { state.withLock { $0.assignedPartitions = count } }
    /// A stop was asked for: not ready any more (a load balancer or orchestrator stops routing to it).
    func setStopping() { state.withLock { $0.stopping = true } }

    /// Publishes the engine thread's progress.
    func setProgress(_ progress: Progress) { state.withLock { $0.progress = progress } }
    /// The engine thread's progress, as last published.
    var progress: Progress { state.withLock { $0.progress } }

    /// Whether the engine loop runs (and so answers requests that need the engine).
    var isConsuming: Bool { state.withLock { $0.consuming && !$0.stopping } }

    /// Ready: restored, consuming, at least one partition assigned, not stopping. The JSON says which part is not.
    func readiness() -> (ready: Bool, json: String) {
        state.withLock { state in
            let ready = state.restored && state.consuming && state.assignedPartitions > 0 && !state.stopping
            return (
                ready,
                "{\"ready\":\(ready),\"restored\":\(state.restored),\"consuming\":\(state.consuming),"
                    + "\"assigned_partitions\":\(state.assignedPartitions),\"stopping\":\(state.stopping)}"
            )
        }
    }
}

/// Requests that need the engine, queued by the admin server's thread and answered by the engine thread between
/// batches (at least every 100 ms).
final class EngineRequests: Sendable {
    /// One request: explain a key (the key as given in the URL).
    struct Explain: Sendable {
        var key: String
        var respond: @Sendable (AdminResponse) -> Void
    }

    /// One reload request: from POST /reload (with its answer), or from SIGHUP (none).
    typealias Reload = (@Sendable (AdminResponse) -> Void)?

    private let queues = Mutex<(explains: [Explain], reloads: [Reload])>(([], []))

    func add(_ request: Explain) { queues.withLock { $0.explains.append(request) } }
    func addReload(_ respond: Reload) { queues.withLock { $0.reloads.append(respond) } }

    /// Takes every queued reload request.
    func takeReloads() -> [Reload] {
        queues.withLock { queues in
            defer { queues.reloads.removeAll() }
            return queues.reloads
        }
    }

    /// Takes every queued request.
    func take() -> [Explain] {
        queues.withLock { queues in
            defer { queues.explains.removeAll() }
            return queues.explains
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
            respond(
                AdminResponse(
                    status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8",
                    body: Array(metrics.render().utf8)))
        case ("GET", "/healthz"), ("HEAD", "/healthz"):
            respond(.text("ok"))
        case ("GET", "/readyz"), ("HEAD", "/readyz"):
            let (ready, json) = status.readiness()
            respond(.json(json, status: ready ? 200 : 503))
        case ("GET", let path) where path.hasPrefix("/keys/") && path.count > "/keys/".count:
            guard status.isConsuming else {
                respond(
                    .json("{\"error\":\"cepd is not consuming yet (or is stopping): no engine to ask\"}", status: 503))
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
