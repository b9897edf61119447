@testable import InfraprobeCore

/// An HTTPServer on a free 127.0.0.1 port that stops without a grace period: what the replay
/// and documented-response servers of the conformance tests answer from.
final class LoopbackTestServer: @unchecked Sendable {
    private let server: HTTPServer

    init(_ answer: @escaping @Sendable (HTTPRequest) -> HTTPResponse) throws {
        var options = HTTPServerOptions()
        options.shutdownGrace = .zero
        server = HTTPServer(listen: ListenAddress("127.0.0.1:0")!, options: options) { request, _ in answer(request) }
        try server.start()
    }

    var port: Int { Int(server.port) }
    var url: String { "http://127.0.0.1:\(port)" }

    func stop() { server.stop() }

    /// `stop()` waits for in-flight handlers; from async code do that off the cooperative pool.
    func stopOffPool() async { await BlockingExecutor.shared.run { self.server.stop() } }
}
