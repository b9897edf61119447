import Foundation
import Testing
@testable import InfraprobeCore

/// Hostile and malformed requests over raw loopback sockets: each gets a 4xx or a closed
/// connection within a bounded time, and the exporter keeps serving probes (connection
/// timeout 1 s here; the flag is --web.connection-timeout).
@Suite("Bad input", .serialized)
struct BadInputTests {
    final class Fixture: @unchecked Sendable {
        let redis: RedisServer
        let exporter: TestExporter
        init(redis: RedisServer) throws {
            self.redis = redis
            exporter = try TestExporter(config: "targets:\n  redis-main:\n    prober: redis\n    address: \(redis.address)\n") {
                $0.server.connectionTimeoutSeconds = 1
            }
        }
        var port: UInt16 { exporter.port }

        func stillServesProbes(sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let response = try await exporter.get("/probe?target=redis-main")
            #expect(response.status == 200 && response.text.contains("probe_success{target=\"redis-main\"} 1"), sourceLocation: sourceLocation)
        }
    }

    /// What a raw client saw: the status line (if any), whether the server closed, and when.
    struct Exchange: Sendable {
        let status: Int?
        let closed: Bool
        let elapsed: Duration
    }

    /// Connects, sends `chunks` (pausing `pause` between them), then reads until the server
    /// closes or `limit` passes.
    static func exchange(port: UInt16, _ chunks: [[UInt8]], pause: Duration = .zero, limit: Duration = .seconds(4)) async -> Exchange {
        await BlockingExecutor.shared.run {
            let start = ContinuousClock.now
            let fd = RawClient.connect(port: port)
            defer { close(fd) }
            for (index, chunk) in chunks.enumerated() {
                if index > 0 && pause > .zero { usleep(UInt32(pause.seconds * 1_000_000)) }
                _ = chunk.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
            var received: [UInt8] = []
            var closed = false
            var buffer = [UInt8](repeating: 0, count: 65536)
            while ContinuousClock.now - start < limit {
                var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                let n = recv(fd, &buffer, buffer.count, 0)
                if n > 0 { received += buffer[0..<n]; continue }
                if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) { closed = true; break }
                if !received.isEmpty && String(decoding: received, as: UTF8.self).contains("\r\n\r\n") { break }
            }
            let text = String(decoding: received.prefix(64), as: UTF8.self)
            let status = text.hasPrefix("HTTP/1.") ? Int(text.split(separator: " ").dropFirst().first ?? "") : nil
            return Exchange(status: status, closed: closed, elapsed: ContinuousClock.now - start)
        }
    }

    static func request(_ line: String, headers: [String] = ["Host: x"]) -> [UInt8] {
        Array((line + "\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n").utf8)
    }

    func expectRejected(_ exchange: Exchange, within limit: Duration, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let rejected = (exchange.status.map { (400..<500).contains($0) } ?? false) || (exchange.status == nil && exchange.closed)
        #expect(rejected, "\(what): status \(exchange.status.map(String.init) ?? "none"), closed \(exchange.closed)", sourceLocation: sourceLocation)
        #expect(exchange.elapsed < limit, "\(what) took \(exchange.elapsed)", sourceLocation: sourceLocation)
        print("bad-input \(what): status=\(exchange.status.map(String.init) ?? "-") closed=\(exchange.closed) elapsed=\(exchange.elapsed)")
    }

    @Test func test_hugeQueryString_isRejected() async throws {
        let fixture = try Fixture(redis: await RedisServer.make())
        let line = "GET /probe?target=" + String(repeating: "a", count: 200_000) + " HTTP/1.1"
        expectRejected(await Self.exchange(port: fixture.port, [Self.request(line)]), within: .seconds(2), "200 kB query string")
        try await fixture.stillServesProbes()
    }

    @Test func test_unknownParametersAndBadTargets_are400() async throws {
        let fixture = try Fixture(redis: await RedisServer.make())
        for path in ["/probe?targt=redis-main", "/probe?target=redis-main&foo=bar", "/probe?target=%FF%FE%00x",
                     "/probe?target=" + String(repeating: "%C3", count: 500), "/logs?id=-1", "/logs?id=99999999999999999999999"] {
            let exchange = await Self.exchange(port: fixture.port, [Self.request("GET \(path) HTTP/1.1", headers: ["Host: x", "Connection: close"])])
            #expect(exchange.status == 400 || exchange.status == 404, "\(path): \(String(describing: exchange.status))")
        }
        // Raw invalid UTF-8 bytes in the request line itself.
        let raw: [UInt8] = Array("GET /probe?target=".utf8) + [0xFF, 0xC0, 0x80] + Array(" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)
        expectRejected(await Self.exchange(port: fixture.port, [raw]), within: .seconds(2), "invalid UTF-8 in the request line")
        try await fixture.stillServesProbes()
    }

    @Test func test_headerFlood_isRejected() async throws {
        let fixture = try Fixture(redis: await RedisServer.make())
        let headers = ["Host: x"] + (0..<3000).map { "X-Flood-\($0): " + String(repeating: "v", count: 40) }
        expectRejected(await Self.exchange(port: fixture.port, [Self.request("GET /metrics HTTP/1.1", headers: headers)]), within: .seconds(2), "3000 headers")
        let huge = ["Host: x", "X-Big: " + String(repeating: "b", count: 100_000)]
        expectRejected(await Self.exchange(port: fixture.port, [Self.request("GET /metrics HTTP/1.1", headers: huge)]), within: .seconds(2), "100 kB header")
        try await fixture.stillServesProbes()
    }

    @Test func test_garbageAndPartialRequests_areClosedWithinTheTimeout() async throws {
        let fixture = try Fixture(redis: await RedisServer.make())
        expectRejected(await Self.exchange(port: fixture.port, [Array("NOT HTTP AT ALL\r\n\r\n".utf8)]), within: .seconds(2), "garbage request line")
        // These wait for the 1 s connection timeout, so they run side by side.
        let port = fixture.port
        async let tlsHello = Self.exchange(port: port, [[0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00]])
        // Slowloris: half a request, then silence; and a request line sent byte by byte that stops.
        async let halfSent = Self.exchange(port: port, [Array("GET /probe?target=redis-main HTTP/1.1\r\nHost: x\r\n".utf8)])
        async let trickled = Self.exchange(port: port, "GET /met".utf8.map { [$0] }, pause: .milliseconds(50))
        // A body announced but never sent.
        async let noBody = Self.exchange(port: port, [Self.request("POST /-/reload HTTP/1.1", headers: ["Host: x", "Content-Length: 1000"])])
        expectRejected(await tlsHello, within: .seconds(2.5), "TLS hello to plain HTTP")
        expectRejected(await halfSent, within: .seconds(2.5), "half-sent headers")
        expectRejected(await trickled, within: .seconds(3), "trickled then stalled request line")
        expectRejected(await noBody, within: .seconds(2.5), "announced body never sent")
        try await fixture.stillServesProbes()
    }

    @Test func test_manyIdleConnections_doNotStopProbes_andAreClosed() async throws {
        let fixture = try Fixture(redis: await RedisServer.make())
        let port = fixture.port
        let sockets = await BlockingExecutor.shared.run { (0..<300).map { _ in RawClient.connect(port: port) } }
        defer { sockets.forEach { close($0) } }
        #expect(sockets.allSatisfy { $0 >= 0 })
        let started = ContinuousClock.now
        try await fixture.stillServesProbes()
        let probeTime = ContinuousClock.now - started
        #expect(probeTime < .seconds(1), "a probe must not wait behind idle connections")
        // After the 1 s connection timeout every idle socket has been closed by the server.
        let closedCount = await BlockingExecutor.shared.run { () -> Int in
            usleep(1_800_000)
            return sockets.filter { fd in
                var byte: UInt8 = 0
                return recv(fd, &byte, 1, Int32(MSG_DONTWAIT)) == 0
            }.count
        }
        #expect(closedCount == 300, "idle connections closed: \(closedCount)/300")
        print("bad-input 300 idle connections: probe answered in \(probeTime), closed after the 1 s timeout: \(closedCount)/300")
    }
}

enum RawClient {
    static func connect(port: UInt16) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 { close(fd); return -1 }
        return fd
    }
}
