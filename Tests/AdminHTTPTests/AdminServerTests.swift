import AdminHTTP
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The admin port's defences against idle and excess connections (issue 18: 19,990 idle connections held cepd at
/// its descriptor limit), through real sockets. Each wait is for the server's own act (a close, an answer) and
/// fails, saying what it waited for, after a bound far above what an idle machine needs.
@Suite struct AdminServerTests {
    /// A client socket to the server, with a receive bound so that no wait hangs.
    final class Connection {
        let fd: Int32

        init(port: Int) throws {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var timeout = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else {
                close(fd)
                throw Failure("cannot connect to 127.0.0.1:\(port)")
            }
        }

        deinit { close(fd) }

        func send(_ text: String) {
            let bytes = Array(text.utf8)
            #expect(bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) } == bytes.count)
        }

        /// Reads until `text` has arrived; nil when the server closed first.
        func read(until text: String) throws -> String? {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !String(decoding: received, as: UTF8.self).contains(text) {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n < 0 && errno != ECONNRESET { throw Failure("no '\(text)' and no close within 30 s") }
                if n <= 0 { return nil }
                received += buffer[..<n]
            }
            return String(decoding: received, as: UTF8.self)
        }

        /// Waits for the server to close the connection (end of file); fails if it answers or stays open.
        func waitForClose() throws {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            // A reset is a close too (the server closed with our request unread).
            if n < 0 && errno != ECONNRESET { throw Failure("the server did not close the connection within 30 s") }
            #expect(n <= 0, "the server sent \(n) bytes instead of closing")
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func ok(_ request: AdminRequest, _ respond: @escaping @Sendable (AdminResponse) -> Void) {
        respond(.text("ok \(request.path)"))
    }

    /// The request path as the fuzzer drives it (`AdminServer.exchange`): pipelined requests answered in order, a
    /// malformed escape refused, a body over the limit refused, bytes that are not HTTP answered 400.
    @Test func exchangeAnswersWhatTheAdminPortWould() {
        let both = AdminServer.exchange(
            Array("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b%20c HTTP/1.1\r\nHost: x\r\n\r\n".utf8), handler: Self.ok)
        let text = String(decoding: both, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200 OK"))
        #expect(text.contains("ok /a\n") && text.contains("ok /b c\n"))
        #expect(text.range(of: "ok /a")!.lowerBound < text.range(of: "ok /b c")!.lowerBound)
        let escape = String(
            decoding: AdminServer.exchange(Array("GET /keys/%zz HTTP/1.1\r\n\r\n".utf8), handler: Self.ok),
            as: UTF8.self)
        #expect(escape.hasPrefix("HTTP/1.1 400"))
        let large =
            "POST /reload HTTP/1.1\r\nContent-Length: \(AdminServer.maxBodyBytes + 1)\r\n\r\n"
            + String(repeating: "x", count: AdminServer.maxBodyBytes + 1)
        #expect(
            String(decoding: AdminServer.exchange(Array(large.utf8), handler: Self.ok), as: UTF8.self).hasPrefix(
                "HTTP/1.1 413"))
        let garbage = AdminServer.exchange(Array("\u{0}\u{1}garbage\r\n\r\n".utf8), handler: Self.ok)
        #expect(String(decoding: garbage, as: UTF8.self).hasPrefix("HTTP/1.1 400 Bad Request"))
    }

    @Test func anIdleConnectionIsClosed() throws {
        let server = try AdminServer(host: "127.0.0.1", port: 0, idleTimeout: .milliseconds(300), handler: Self.ok)
        defer { server.stop() }
        let start = ContinuousClock.now
        let connection = try Connection(port: server.port)
        try connection.waitForClose()
        #expect(ContinuousClock.now - start >= .milliseconds(300), "closed before the idle timeout")
    }

    @Test func aKeepAliveConnectionIsAnsweredThenClosedWhenIdle() throws {
        let server = try AdminServer(host: "127.0.0.1", port: 0, idleTimeout: .milliseconds(300), handler: Self.ok)
        defer { server.stop() }
        let connection = try Connection(port: server.port)
        connection.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try connection.read(until: "ok /a") != nil)
        connection.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try connection.read(until: "ok /b") != nil)
        try connection.waitForClose()
    }

    /// A request the daemon answers late (an explanation waits for the engine thread) keeps its connection past
    /// the idle timeout: the connection opened after it is closed first, so its timer has fired by then.
    @Test func aConnectionWaitingForAnAnswerIsNotIdle() throws {
        let pending = Mutex<[@Sendable (AdminResponse) -> Void]>([])
        let server = try AdminServer(host: "127.0.0.1", port: 0, idleTimeout: .milliseconds(300)) { request, respond in
            pending.withLock { $0.append(respond) }
        }
        defer { server.stop() }
        let waiting = try Connection(port: server.port)
        waiting.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        // The request must have reached the handler before the other connection opens.
        let deadline = ContinuousClock.now + .seconds(30)
        while pending.withLock({ $0.isEmpty }) {
            if ContinuousClock.now > deadline { throw Failure("the request did not reach the handler within 30 s") }
            Thread.sleep(forTimeInterval: 0.01)
        }
        let idle = try Connection(port: server.port)
        try idle.waitForClose()
        pending.withLock { $0[0](.text("late answer")) }
        #expect(try waiting.read(until: "late answer") != nil, "the waiting connection was closed")
    }

    @Test func connectionsBeyondTheCapAreClosedAtOnce() throws {
        let server = try AdminServer(host: "127.0.0.1", port: 0, maxConnections: 2, handler: Self.ok)
        defer { server.stop() }
        var first: Connection? = try Connection(port: server.port)
        let second = try Connection(port: server.port)
        for (connection, path) in [(first!, "/1"), (second, "/2")] {
            connection.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try connection.read(until: "ok \(path)") != nil)
        }
        let third = try Connection(port: server.port)
        try third.waitForClose()
        // Once one closes, a new connection is served again (the server counts the close when it sees it).
        first = nil
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let next = try Connection(port: server.port)
            next.send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
            if try next.read(until: "ok /again") != nil { break }
            if ContinuousClock.now > deadline { throw Failure("no connection served within 30 s of one closing") }
        }
        _ = first
    }
}
