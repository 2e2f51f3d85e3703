import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import Synchronization

/// An HTTP request to the admin port, complete with its body.
public struct AdminRequest: Sendable {
    /// `GET`, `POST`, ...
    public var method: String
    /// The path, without the query string (`/keys/alice`, percent-decoded).
    public var path: String
    /// The query string after `?`, if any (undecoded).
    public var query: String?
    /// The body (admin requests are small; a larger one is refused with 413).
    public var body: [UInt8]
}

/// The answer to an `AdminRequest`.
public struct AdminResponse: Sendable {
    /// The HTTP status code.
    public var status: Int
    /// The `Content-Type` header.
    public var contentType: String
    /// The body.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, contentType: String, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    /// A plain-text response (a trailing newline is added).
    public static func text(_ text: String, status: Int = 200) -> AdminResponse {
        AdminResponse(status: status, contentType: "text/plain; charset=utf-8", body: Array((text + "\n").utf8))
    }

    /// A JSON response (the caller serializes; a trailing newline is added).
    public static func json(_ json: String, status: Int = 200) -> AdminResponse {
        AdminResponse(status: status, contentType: "application/json", body: Array((json + "\n").utf8))
    }
}

/// A small HTTP/1.1 server for a daemon's admin port (metrics, health, admin actions), on SwiftNIO's HTTP/1 codec
/// with one event-loop thread. It knows no routes: every complete request goes to the handler, which answers
/// through `respond` — at once, or later from another thread (an answer that needs the daemon's engine thread).
/// Keep-alive and pipelining are handled (NIO answers pipelined requests in order).
public final class AdminServer: Sendable {
    /// Answers a request by calling `respond` exactly once, from any thread.
    public typealias Handler = @Sendable (AdminRequest, _ respond: @escaping @Sendable (AdminResponse) -> Void) -> Void

    /// The largest request body accepted.
    public static let maxBodyBytes = 1 << 20

    /// How long a connection may stay open with no request in progress and nothing read: idle keep-alive
    /// connections would otherwise accumulate until they hold cepd at its file-descriptor limit (its Kafka and
    /// RocksDB files need descriptors too). A scraper's keep-alive connection is simply reopened.
    public static let defaultIdleTimeout = Duration.seconds(60)

    /// How many connections may be open at once; one more is closed as soon as it is accepted. Far above what a
    /// scraper, a probe and an operator need, far below the descriptor limit.
    public static let defaultMaxConnections = 256

    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    /// The port the server listens on (the one chosen by the system when 0 was asked for).
    public let port: Int

    /// Binds `host:port` and starts serving. Throws when the address cannot be bound (in use, not local).
    public init(
        host: String, port: Int, idleTimeout: Duration = defaultIdleTimeout,
        maxConnections: Int = defaultMaxConnections, handler: @escaping Handler
    ) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let open = ConnectionCount()
        let (seconds, attoseconds) = idleTimeout.components
        let readTimeout = TimeAmount.nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard open.value.add(1, ordering: .relaxed).newValue <= maxConnections else {
                    open.value.subtract(1, ordering: .relaxed)
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in open.value.subtract(1, ordering: .relaxed) }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: readTimeout))
                    try Self.addHandlers(to: channel.pipeline.syncOperations, handler: handler)
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        self.group = group
        self.port = channel.localAddress?.port ?? port
    }

    /// The request path of a connection: HTTP/1 decoding and encoding, then `RequestHandler`.
    private static func addHandlers(to pipeline: ChannelPipeline.SynchronousOperations, handler: @escaping Handler)
        throws
    {
        try pipeline.configureHTTPServerPipeline()
        try pipeline.addHandler(RequestHandler(handler: handler))
    }

    /// What a connection answers to `bytes` (one or more requests, or anything at all): the bytes pass through the
    /// same decoder and handler as on the admin port, on an in-memory channel, and the bytes written back are
    /// returned. For tests and the request fuzzer (`Fuzz/`); `handler` must answer at once.
    public static func exchange(_ bytes: [UInt8], handler: @escaping Handler) -> [UInt8] {
        let channel = EmbeddedChannel()
        var written: [UInt8] = []
        do {
            try addHandlers(to: channel.pipeline.syncOperations, handler: handler)
            // A malformed request is an error in the pipeline (the handler closes the connection on it).
            _ = try? channel.writeInbound(channel.allocator.buffer(bytes: bytes))
            channel.embeddedEventLoop.run()
            while let part = try channel.readOutbound(as: IOData.self) {
                if case .byteBuffer(let buffer) = part { written += buffer.readableBytesView }
            }
        } catch {
            written += Array("(pipeline error: \(error))".utf8)
        }
        _ = try? channel.finish()
        return written
    }

    /// Stops listening, closes the connections and the event loop.
    public func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// The admin port's open connections, counted from the event loop as they open and close.
private final class ConnectionCount: Sendable {
    let value = Atomic<Int>(0)
}

/// Collects one request (head, body, end), hands it to the handler and writes its answer on the event loop.
private final class RequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let handler: AdminServer.Handler
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false
    /// Requests handed to the handler and not answered yet: a connection waiting for an answer is not idle.
    private var unanswered = 0

    init(handler: @escaping AdminServer.Handler) {
        self.handler = handler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
            tooLarge = false
        case .body(var buffer):
            if body.count + buffer.readableBytes > AdminServer.maxBodyBytes {
                tooLarge = true
            } else if let bytes = buffer.readBytes(length: buffer.readableBytes) {
                body += bytes
            }
        case .end:
            guard let head else { return }
            self.head = nil
            let keepAlive = head.isKeepAlive
            if tooLarge {
                write(
                    .text("request body larger than \(AdminServer.maxBodyBytes) bytes", status: 413), context: context,
                    keepAlive: false)
                return
            }
            let target = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            let path = String(target.first ?? "")
            guard let decoded = path.removingPercentEncoding else {
                // Looked up literally, a malformed escape would name another key than the one meant.
                body = []
                write(
                    .text("malformed %-escape in \(path) (escape bytes as %XX, e.g. %20)", status: 400),
                    context: context,
                    keepAlive: keepAlive)
                return
            }
            let request = AdminRequest(
                method: head.method.rawValue, path: decoded, query: target.count > 1 ? String(target[1]) : nil,
                body: body)
            body = []
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            unanswered += 1
            handler(request) { response in
                loop.execute {
                    let (me, context) = bound.value
                    me.unanswered -= 1
                    me.write(response, context: context, keepAlive: keepAlive)
                }
            }
        }
    }

    private func write(_ response: AdminResponse, context: ChannelHandlerContext, keepAlive: Bool) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: String(response.body.count))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: response.status)
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: response.body.count)
        buffer.writeBytes(response.body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Nothing read for the idle timeout: close, unless a request is being read or answered.
        if event is IdleStateHandler.IdleStateEvent {
            if head == nil && unanswered == 0 { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)  // a malformed request: drop the connection
    }
}

extension String {
    /// `%XX` sequences decoded as UTF-8; nil when one is malformed.
    fileprivate var removingPercentEncoding: String? {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue)
            else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
