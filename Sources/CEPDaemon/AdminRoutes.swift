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

/// The admin port's routes: `GET /metrics` (Prometheus text), `GET /healthz` (the process answers),
/// `GET /readyz` (200 when ready, 503 otherwise, with a JSON body saying why).
struct AdminRoutes: Sendable {
    let metrics: DaemonMetrics
    let status: DaemonStatus

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
        case (_, "/metrics"), (_, "/healthz"), (_, "/readyz"):
            respond(.text("method \(request.method) not allowed on \(request.path); use GET", status: 405))
        default:
            respond(.text("no such path: \(request.path) (try /metrics, /healthz, /readyz)", status: 404))
        }
    }
}
