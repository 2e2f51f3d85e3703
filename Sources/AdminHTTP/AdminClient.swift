#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A blocking HTTP/1.0 GET against an admin port (`cepd inspect`): one request, one connection, no redirects.
public enum AdminClient {
    /// Why a request failed, in words a user can act on.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// GETs `path` from `host:port` (an IPv4 address or `localhost`); returns the status code and the body.
    public static func get(host: String, port: Int, path: String, timeoutSeconds: Int = 10) throws(Failure) -> (
        status: Int, body: [UInt8]
    ) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let dotted = host == "localhost" ? "127.0.0.1" : host
        guard inet_pton(AF_INET, dotted, &address.sin_addr) == 1 else {
            throw Failure(description: "'\(host)' is not an IPv4 address")
        }
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure(description: "cannot create a socket") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            throw Failure(
                description: "nothing answers on \(host):\(port) (is cepd running with --metrics-port \(port)?)")
        }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: \(host)\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else {
            throw Failure(description: "cannot send the request to \(host):\(port)")
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 { throw Failure(description: "no answer from \(host):\(port) within \(timeoutSeconds) s") }
            if n == 0 { break }
            response += buffer[..<n]
        }
        // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
        guard let headerEnd = response.indices.first(where: { response[$0...].starts(with: [13, 10, 13, 10]) }),
            let statusLine = String(validating: response[..<headerEnd], as: UTF8.self)?.split(separator: " "),
            statusLine.count >= 2, let status = Int(statusLine[1])
        else {
            throw Failure(description: "\(host):\(port) did not answer HTTP")
        }
        return (status, Array(response[(headerEnd + 4)...]))
    }
}
