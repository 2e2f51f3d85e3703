import AdminHTTP
import FuzzSupport

/// Fuzzes the admin port: any bytes, as a client could send them on one connection, go through the HTTP decoder
/// and the request handler (`AdminServer.exchange`), answered by routes shaped like the daemon's. Whatever comes
/// back must be HTTP responses, and nothing may crash or hang.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAdminRequests(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let written = AdminServer.exchange(Array(UnsafeBufferPointer(start: data, count: size))) { request, respond in
        switch (request.method, request.path) {
        case ("GET", "/healthz"): respond(.text("ok"))
        case ("GET", let path) where path.hasPrefix("/keys/"):
            respond(.json(#"{"key":\#(path.dropFirst(6).utf8.count),"query":\#(request.query?.utf8.count ?? -1)}"#))
        case ("POST", "/reload"): respond(.json(#"{"body":\#(request.body.count)}"#, status: request.body.isEmpty ? 200 : 422))
        default: respond(.text("not found", status: 404))
        }
    }
    precondition(written.isEmpty || written.starts(with: Array("HTTP/1.1 ".utf8)), "an answer that is not HTTP")
    return 0
}

@_cdecl("FuzzAdminRequests_main")
public func fuzzAdminRequestsMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzzAdminRequests)
}
