import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// HTTP services that misbehave on purpose (HostileTCPServer, below HTTP): each ends with the
/// right reason within the request's deadline, and threads, file descriptors and memory come
/// back to where they were.
@Suite("Hostile HTTP services", .serialized)
struct HostileHTTPServiceTests {
    let client = HTTPClient.shared

    /// 64 MiB of zeros, gzipped to about 64 KiB: made once, before any measurement.
    static let gzipBomb: [UInt8] = Gzip.compress([UInt8](repeating: 0, count: 64 << 20))!

    func failure(_ result: HTTPClientResult) -> HTTPTransportError? {
        if case .failure(let error) = result { return error }
        return nil
    }

    /// Runs `body` against a hostile server; afterwards threads, fds and RSS must be back to
    /// their level before (within a tolerance for the runtime's own idle threads and caches).
    func withHostile(_ behaviour: @escaping @Sendable (HostileTCPServer.Connection) -> Void,
                     _ body: (HostileTCPServer) async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        // Warm up what lives for the whole process: the curl loop thread, a blocking-executor thread.
        _ = await client.send(HTTPClientRequest(url: "http://127.0.0.1:1/", deadline: .after(.milliseconds(200))))
        await BlockingExecutor.shared.run {}
        let before = ProcessResources.now()
        let server = HostileTCPServer(behaviour)
        do { try await body(server) } catch { await server.stopOffPool(); throw error }
        await server.stopOffPool()
        var after = ProcessResources.now()
        // Kept-alive connections to the stopped server stay in curl's connection cache (CLOSE_WAIT)
        // until curl next prunes dead ones, at most once a second and only when it has work:
        // give it work for over a second, then longer while anything is still above its level.
        let settleStart = ContinuousClock.now
        for _ in 0..<60 {
            let levelsBack = !ProcessResources.comparable || (after.threads <= before.threads + 3 && after.openFiles <= before.openFiles + 3)
            let settled = levelsBack && Self.socketsTo(port: server.port) == 0
            if settled && ContinuousClock.now - settleStart > .milliseconds(1200) { break }
            _ = await client.send(HTTPClientRequest(url: "http://127.0.0.1:1/", deadline: .after(.milliseconds(200))))
            try await Task.sleep(for: .milliseconds(100))
            after = ProcessResources.now()
        }
        print("hostile-http resources before: \(before) after: \(after)")
        if ProcessResources.comparable {
            #expect(after.threads <= before.threads + 3, "threads \(before) → \(after)", sourceLocation: sourceLocation)
            #expect(after.openFiles <= before.openFiles + 3, "fds \(before) → \(after)", sourceLocation: sourceLocation)
            #expect(after.residentBytes <= before.residentBytes + 32 << 20, "RSS \(before) → \(after)", sourceLocation: sourceLocation)
        }
        #expect(Self.socketsTo(port: server.port) == 0, "a socket to the hostile server is still open", sourceLocation: sourceLocation)
    }

    /// Sockets of this process whose peer is 127.0.0.1:`port`, in any state (CLOSE_WAIT included).
    static func socketsTo(port: UInt16) -> Int {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.compactMap(Int32.init).filter { fd in
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let ok = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
            } == 0
            return ok && address.sin_family == sa_family_t(AF_INET) && UInt16(bigEndian: address.sin_port) == port
        }.count
    }

    func timed(_ request: HTTPClientRequest) async -> (HTTPClientResult, Duration) {
        let start = ContinuousClock.now
        let result = await client.send(request)
        return (result, ContinuousClock.now - start)
    }

    // MARK: endless and slow

    @Test("a body dripping one byte a second ends as timeout at the request deadline")
    func test_slowDripBody_endsAtDeadline_asTimeout() async throws {
        try await withHostile({ connection in
            connection.readRequestHead()
            connection.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
            while connection.open, connection.send("[") { connection.pause(.seconds(1)) }
        }) { server in
            let (result, elapsed) = await timed(HTTPClientRequest(url: server.url + "/v1/status/leader", deadline: .after(.milliseconds(1500))))
            #expect(failure(result)?.reason == .timeout, "\(result)")
            #expect(elapsed >= .milliseconds(1400) && elapsed < .milliseconds(1900), "took \(elapsed)")
        }
    }

    @Test("headers dripping one byte a second end as timeout at the request deadline")
    func test_slowDripHeaders_endsAtDeadline_asTimeout() async throws {
        try await withHostile({ connection in
            connection.readRequestHead()
            for byte in Array("HTTP/1.1 200 OK\r\nX-Slow: ".utf8) + Array(repeating: UInt8(ascii: "a"), count: 100) {
                guard connection.open, connection.send([byte]) else { return }
                connection.pause(.seconds(1))
            }
        }) { server in
            let (result, elapsed) = await timed(HTTPClientRequest(url: server.url + "/", deadline: .after(.milliseconds(1200))))
            #expect(failure(result)?.reason == .timeout, "\(result)")
            #expect(elapsed < .milliseconds(1600), "took \(elapsed)")
        }
    }

    @Test("a chunked body that never ends is cut at the body cap as unexpected_response")
    func test_endlessChunkedBody_isCutAtCap() async throws {
        try await withHostile({ connection in
            connection.readRequestHead()
            connection.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            let chunk = "4000\r\n" + String(repeating: "[", count: 0x4000) + "\r\n"
            while connection.open, connection.send(chunk) {}
        }) { server in
            let (result, elapsed) = await timed(HTTPClientRequest(url: server.url + "/", deadline: .after(.seconds(3))))
            let error = failure(result)
            #expect(error?.reason == .unexpectedResponse, "\(result)")
            #expect(error?.message.contains("larger than 4194304 bytes") == true, "\(result)")
            #expect(elapsed < .seconds(2), "took \(elapsed)")
        }
    }

    @Test("a gzip bomb is capped on its decoded size")
    func test_gzipBomb_isCappedOnDecodedBytes() async throws {
        let bomb = Self.gzipBomb
        #expect(bomb.count < 1 << 20, "the bomb itself is small: \(bomb.count) bytes")
        try await withHostile({ connection in
            connection.readRequestHead()
            connection.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: \(bomb.count)\r\n\r\n")
            connection.send(bomb)
            connection.pause(.seconds(3))
        }) { server in
            let (result, elapsed) = await timed(HTTPClientRequest(url: server.url + "/", deadline: .after(.seconds(3))))
            let error = failure(result)
            #expect(error?.reason == .unexpectedResponse, "\(result)")
            #expect(error?.message.contains("after decoding") == true, "\(result)")
            #expect(elapsed < .seconds(2), "took \(elapsed)")
        }
    }

    @Test("a small gzipped answer is decoded (so the cap above counts decoded bytes)")
    func test_gzipAnswer_isDecoded() async throws {
        let body = Gzip.compress(Array("{\"ok\":true}".utf8))!
        try await withHostile({ connection in
            connection.readRequestHead()
            connection.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nConnection: close\r\nContent-Length: \(body.count)\r\n\r\n")
            connection.send(body)
        }) { server in
            let response = try await client.send(HTTPClientRequest(url: server.url + "/", deadline: .after(.seconds(2)))).get()
            #expect(response.text == "{\"ok\":true}")
            #expect(server.heads.current.first?.lowercased().contains("accept-encoding:") == true)
        }
    }

    @Test("headers that never end are cut at the header cap as unexpected_response")
    func test_endlessHeaders_areCutAtCap() async throws {
        try await withHostile({ connection in
            connection.readRequestHead()
            connection.send("HTTP/1.1 200 OK\r\n")
            var index = 0
            while connection.open, connection.send("X-Flood-\(index): \(String(repeating: "a", count: 1000))\r\n") { index += 1 }
        }) { server in
            let (result, elapsed) = await timed(HTTPClientRequest(url: server.url + "/", deadline: .after(.seconds(3))))
            let error = failure(result)
            #expect(error?.reason == .unexpectedResponse, "\(result)")
            #expect(error?.message.contains("headers larger than") == true, "\(result)")
            #expect(elapsed < .seconds(2), "took \(elapsed)")
        }
    }

    @Test("absurd Content-Length values: protocol when unreadable, else bounded by the deadline; never a trap")
    func test_absurdContentLength_isProtocolOrBoundedByDeadline() async throws {
        // curl refuses a negative length at once; a length it can read but that never arrives
        // (26 digits, "12, 13") waits for the body until the deadline; "1e300" reads as 1.
        let cases: [(String, FailureReason?)] = [("-1", .protocol), ("99999999999999999999999999", .timeout), ("12, 13", .timeout), ("1e300", nil)]
        for (length, expected) in cases {
            try await withHostile({ connection in
                connection.readRequestHead()
                connection.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(length)\r\n\r\n{}")
                connection.pause(.seconds(3))
            }) { server in
                let (result, elapsed) = await timed(HTTPClientRequest(url: server.url + "/", deadline: .after(.seconds(1))))
                #expect(failure(result)?.reason == expected, "\(length): \(result)")
                #expect(elapsed < .milliseconds(expected == .timeout ? 1400 : 400), "\(length) took \(elapsed)")
            }
        }
    }

    // MARK: redirects and protocol mismatch

    @Test("a redirect to another host is not followed: no request, and no credentials, reach it")
    func test_redirectToOtherHost_isNotFollowed() async throws {
        let elsewhere = HostileTCPServer { connection in
            connection.readRequestHead()
            connection.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        }
        defer { elsewhere.stop() }
        let target = elsewhere.url
        try await withHostile({ connection in
            connection.readRequestHead()
            connection.send("HTTP/1.1 302 Found\r\nLocation: \(target)/steal\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        }) { server in
            let response = try await client.send(HTTPClientRequest(url: server.url + "/api/health", auth: .basic(username: "u", password: Secret("hunter2")),
                                                                   deadline: .after(.seconds(2)))).get()
            #expect(response.status == 302)
            #expect(elsewhere.accepted.current == 0, "the client followed the redirect: \(elsewhere.heads.current)")
        }
        // Through a prober: the 302 is an unexpected status.
        let redirecting = HostileTCPServer { connection in
            while connection.open {
                guard !connection.readRequestHead().isEmpty else { return }
                connection.send("HTTP/1.1 302 Found\r\nLocation: \(target)/steal\r\nContent-Length: 0\r\n\r\n")
            }
        }
        let outcome = try await ProbeHarness.probe("grafana", ["url: \(redirecting.url)", "token: s3cret"])
        await redirecting.stopOffPool()
        #expect(outcome.reason("service_running") == .httpStatus, "\(outcome.summary)")
        #expect(elsewhere.accepted.current == 0)
    }

    @Test("an https URL against a plaintext server fails fast as tls")
    func test_httpsAgainstPlaintext_isTLS() async throws {
        try await withHostile({ connection in
            connection.readRequestHead()
            connection.send("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        }) { server in
            let (result, elapsed) = await timed(HTTPClientRequest(url: "https://127.0.0.1:\(server.port)/", deadline: .after(.seconds(3))))
            #expect(failure(result)?.reason == .tls, "\(result)")
            #expect(elapsed < .milliseconds(500), "took \(elapsed)")
        }
    }

    @Test("a plain http URL against a TLS server fails fast as protocol")
    func test_plaintextAgainstTLS_isProtocol() async throws {
        let fixtures = try await TLSFixtures.make()
        defer { fixtures.remove() }
        var options = HTTPServerOptions()
        options.shutdownGrace = .zero
        options.tls = TLSMaterial(keyPEM: try String(contentsOfFile: fixtures.path("server.key"), encoding: .utf8),
                                  certificatePEM: try String(contentsOfFile: fixtures.path("server.pem"), encoding: .utf8))
        let server = HTTPServer(listen: ListenAddress("127.0.0.1:0")!, options: options) { _, _ in .text(200, "ok") }
        try server.start()
        let (result, elapsed) = await timed(HTTPClientRequest(url: "http://127.0.0.1:\(server.port)/", deadline: .after(.seconds(3))))
        await BlockingExecutor.shared.run { server.stop() }
        #expect([.protocol, .tls].contains(failure(result)?.reason), "\(result)")
        #expect(elapsed < .milliseconds(500), "took \(elapsed)")
    }

    // MARK: hostile bodies through a prober

    static let hostileBodies: [(String, [UInt8])] = [
        ("deeply nested JSON", Array((String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)).utf8)),
        ("invalid UTF-8 and terminal escapes", [0xFF, 0xFE, 0x1B] + Array("[31m\r\nlevel=error msg=forged\u{85}\u{7}".utf8) + [0xC3]),
        ("duplicate keys", Array("{\"a\":1,\"a\":{\"a\":[1e999,-1e999]},\"Healthy\":true,\"Healthy\":\"yes\"}".utf8)),
        ("numbers beyond Double", Array("[1e999,-1e999,\(String(repeating: "9", count: 400)),1e-999]".utf8)),
    ]

    @Test("hostile bodies: every component fails as unexpected_response within the deadline, and no control character reaches a reason or step",
          arguments: 0..<4)
    func test_hostileBody_isUnexpectedResponse_andEscaped(_ index: Int) async throws {
        let (name, body) = Self.hostileBodies[index]
        var outcome: ProbeHarness.Outcome?
        try await withHostile({ connection in
            while connection.open {
                guard !connection.readRequestHead().isEmpty else { return }
                connection.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n")
                connection.send(body)
            }
        }) { server in
            outcome = try await ProbeHarness.probe("consul", ["url: \(server.url)"])
        }
        let result = try #require(outcome)
        for component in result.result.components {
            #expect([.unexpectedResponse, .dependencyFailed].contains(component.failure?.reason), "\(name): \(component.component): \(result.summary)")
            let texts = [component.failure?.message ?? ""] + component.steps.map(\.text)
            for text in texts {
                #expect(!text.unicodeScalars.contains { $0.isControlCharacter }, "\(name): raw control character in \(text.debugDescription)")
            }
        }
        #expect(result.elapsed < .seconds(2), "\(name) took \(result.elapsed)")
    }

    // MARK: logs

    @Test("a service's answer with newlines and terminal escapes cannot forge or corrupt the real exporter's log", arguments: ["logfmt", "json"])
    func test_serviceAnswer_cannotForgeLogLines(_ format: String) async throws {
        let server = HostileTCPServer { connection in
            while connection.open {
                guard !connection.readRequestHead().isEmpty else { return }
                let body = "boom\nlevel=error msg=forged\r\u{1B}[2J\u{85}"
                connection.send("HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            }
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("infraprobe-forge-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let configFile = directory.appendingPathComponent("forge.yml")
        try "targets:\n  grafana:\n    prober: grafana\n    url: \(server.url)\n    timeout: 2s\n".write(to: configFile, atomically: true, encoding: .utf8)
        let exporter = try await BlockingExecutor.shared.run {
            Result { try SpawnedExporter(configFile: configFile.path, arguments: ["--log.format", format], directory: directory) }
        }.get()
        let base = exporter.base
        let probe = try await BlockingExecutor.shared.run { Result { try HTTPFetch.get(base + "/probe?target=grafana", maxTime: 5) } }.get()
        let debug = try await BlockingExecutor.shared.run { Result { try HTTPFetch.get(base + "/probe?target=grafana&debug=true", maxTime: 5) } }.get()
        _ = await BlockingExecutor.shared.run { exporter.stop() }
        await server.stopOffPool()
        #expect(probe.status == 200 && probe.text.contains("reason=\"http_status\""), "\(probe.text)")
        let log = exporter.log
        #expect(log.contains("component failed"), "\(log)")
        for line in log.split(separator: "\n") {
            #expect(!line.hasPrefix("level=error msg=forged") && !line.hasPrefix("msg=forged"), "forged line: \(line)")
        }
        #expect(!log.unicodeScalars.contains { $0.isControlCharacter && $0 != "\n" }, "raw control character in the log")
        #expect(!debug.text.unicodeScalars.contains { $0.isControlCharacter && $0 != "\n" }, "raw control character in debug output")
        #expect(debug.text.contains("boom level=error msg=forged\\r\\e[2J"), "\(debug.text)")
    }

    @Test("log lines escape every control character a service may have sent (logfmt and JSON)")
    func test_logLines_escapeControlCharacters() {
        let hostile = "ok\nlevel=error msg=forged\r\u{1B}[2J\u{85}\u{7F}\u{0}"
        for encoded in [ExporterLogHandler.logfmtValue(hostile), ExporterLogHandler.jsonString(hostile)] {
            #expect(!encoded.unicodeScalars.contains { $0.isControlCharacter }, "\(encoded.debugDescription)")
            #expect(encoded.hasPrefix("\"") && encoded.hasSuffix("\""))
        }
        #expect(ExporterLogHandler.logfmtValue("a\u{1B}b") == "\"a\\eb\"")
        #expect(ExporterLogHandler.jsonString("a\u{1B}b\u{85}") == "\"a\\u001bb\\u0085\"")
        let json = ExporterLogHandler.jsonString(hostile)
        let decoded = try? JSONSerialization.jsonObject(with: Data("[\(json)]".utf8)) as? [String]
        #expect(decoded == [hostile], "the JSON form still decodes to the original text")
    }
}
