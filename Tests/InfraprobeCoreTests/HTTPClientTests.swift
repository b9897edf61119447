import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// Serialized: these tests time transfers on the one shared curl loop, which the flood in
/// `test_concurrency` would otherwise delay for the others.
@Suite("HTTPClient on the curl multi loop", .serialized)
struct HTTPClientTests {
    let client = HTTPClient.shared

    func withServer(tls: TLSMaterial? = nil, _ handler: @escaping HTTPServer.Handler,
                    _ body: (String) async throws -> Void) async throws {
        var options = HTTPServerOptions()
        options.shutdownGrace = .zero
        options.tls = tls
        let server = HTTPServer(listen: ListenAddress("127.0.0.1:0")!, options: options, handler: handler)
        try server.start()
        let url = "\(tls == nil ? "http" : "https")://127.0.0.1:\(server.port)"
        do { try await body(url) } catch { await BlockingExecutor.shared.run { server.stop() }; throw error }
        await BlockingExecutor.shared.run { server.stop() }
    }

    func failure(_ result: HTTPClientResult) -> HTTPTransportError? {
        if case .failure(let error) = result { return error }
        return nil
    }

    @Test("curl result codes map to the closed reason set")
    func test_reasonMapping() {
        #expect(HTTPClient.reason(forCurlCode: 6) == .dns)
        #expect(HTTPClient.reason(forCurlCode: 7) == .connectionRefused)
        #expect(HTTPClient.reason(forCurlCode: 28) == .timeout)
        for code in [35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91] {
            #expect(HTTPClient.reason(forCurlCode: code) == .tls)
        }
        #expect(HTTPClient.reason(forCurlCode: 52) == .protocol)
    }

    @Test("methods, bodies, headers, basic and bearer auth reach the server; status and content type come back")
    func test_requestShape() async throws {
        try await withServer({ request, facts in
            let auth = facts.basicAuth.map { "basic \($0.user):\($0.password)" } ?? request.header("authorization") ?? "-"
            return .text(201, "\(request.method) \(request.path) \(request.header("x-extra") ?? "-") \(auth) \(String(decoding: request.body, as: UTF8.self))")
        }) { base in
            let deadline = Deadline.after(.seconds(2))
            let put = try await client.send(HTTPClientRequest(method: "PUT", url: base + "/kv", headers: [("X-Extra", "1")], body: Array("v".utf8),
                                                              auth: .basic(username: "u", password: Secret("p:w")), deadline: deadline)).get()
            #expect(put.status == 201)
            #expect(put.text == "PUT /kv 1 basic u:p:w v\n")
            #expect(put.contentType?.hasPrefix("text/plain") == true)
            let get = try await client.send(HTTPClientRequest(url: base + "/x", auth: .bearer(Secret("tok")), deadline: deadline)).get()
            #expect(get.text == "GET /x - Bearer tok \n")
            let delete = try await client.send(HTTPClientRequest(method: "DELETE", url: base + "/d", auth: .header(name: "X-Extra", value: Secret("h")), deadline: deadline)).get()
            #expect(delete.text == "DELETE /d h - \n")
        }
    }

    @Test("connections are reused across requests (the multi handle keeps its cache)")
    func test_connectionReuse() async throws {
        try await withServer({ _, _ in .text(200, "ok") }) { base in
            let first = try await client.send(HTTPClientRequest(url: base + "/a", deadline: .after(.seconds(2)))).get()
            let second = try await client.send(HTTPClientRequest(url: base + "/b", deadline: .after(.seconds(2)))).get()
            #expect(first.newConnections == 1)
            #expect(second.newConnections == 0)
        }
    }

    @Test("many concurrent transfers overlap instead of queueing")
    func test_concurrency() async throws {
        try await withServer({ _, _ in
            try? await Task.sleep(for: .milliseconds(200))
            return .text(200, "slow")
        }) { base in
            let start = ContinuousClock.now
            let statuses = await withTaskGroup(of: Int.self) { group in
                for index in 0..<50 {
                    group.addTask { (try? await client.send(HTTPClientRequest(url: base + "/\(index)", deadline: .after(.seconds(2)))).get().status) ?? 0 }
                }
                return await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: 200, count: 50))
            #expect(ContinuousClock.now - start < .seconds(1.5))
        }
    }

    @Test("the deadline bounds a request to a server that never answers")
    func test_deadline() async throws {
        let hole = BlackHole()
        let start = ContinuousClock.now
        let result = await client.send(HTTPClientRequest(url: "http://127.0.0.1:\(hole.port)/", deadline: .after(.milliseconds(300))))
        #expect(failure(result)?.reason == .timeout)
        // Bounded, not exact: on 2 busy cores the curl thread can be scheduled a few 100 ms late.
        #expect(ContinuousClock.now - start < .milliseconds(600))
    }

    @Test("a closed port is connection_refused")
    func test_refused() async throws {
        let closed = ClosedPort()
        let result = await client.send(HTTPClientRequest(url: "http://127.0.0.1:\(closed.port)/", deadline: .after(.seconds(1))))
        #expect(failure(result)?.reason == .connectionRefused)
    }

    @Test("cancelling the calling task ends the transfer at once")
    func test_cancellation() async throws {
        let hole = BlackHole()
        let task = Task { await client.send(HTTPClientRequest(url: "http://127.0.0.1:\(hole.port)/", deadline: .after(.seconds(5)))) }
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        task.cancel()
        let result = await task.value
        #expect(failure(result)?.reason == .timeout)
        #expect(ContinuousClock.now - start < .milliseconds(500))
    }

    @Test("a body over the cap aborts the transfer as unexpected_response")
    func test_bodyCap() async throws {
        try await withServer({ _, _ in .text(200, String(repeating: "x", count: 100_000)) }) { base in
            let capped = await client.send(HTTPClientRequest(url: base + "/", deadline: .after(.seconds(2)), maxBodyBytes: 1000))
            #expect(failure(capped)?.reason == .unexpectedResponse)
            let full = try await client.send(HTTPClientRequest(url: base + "/", deadline: .after(.seconds(2)))).get()
            #expect(full.body.count == 100_001)
        }
    }

    @Test("TLS: an untrusted certificate is a tls failure; ca_file or insecure_skip_verify make it work")
    func test_tls() async throws {
        let directory = NSTemporaryDirectory() + "infraprobe-tls-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = try await Shell.captureOffPool("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                                                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                                                            "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem"])
        let material = TLSMaterial(keyPEM: try String(contentsOfFile: directory + "/key.pem", encoding: .utf8),
                                   certificatePEM: try String(contentsOfFile: directory + "/cert.pem", encoding: .utf8))
        try await withServer(tls: material, { _, _ in .text(200, "secure") }) { base in
            let untrusted = await client.send(HTTPClientRequest(url: base + "/", deadline: .after(.seconds(2))))
            #expect(failure(untrusted)?.reason == .tls)
            let trusted = try await client.send(HTTPClientRequest(url: base + "/", tls: HTTPTLSOptions(caFile: directory + "/cert.pem"),
                                                                  deadline: .after(.seconds(2)))).get()
            #expect(trusted.text == "secure\n")
            let skipped = try await client.send(HTTPClientRequest(url: base + "/", tls: HTTPTLSOptions(insecureSkipVerify: true),
                                                                  deadline: .after(.seconds(2)))).get()
            #expect(skipped.status == 200)
        }
    }

    @Test("an idle connection is closed after the idle timeout, with no further transfer to trigger it")
    func test_idleConnection_isClosed_afterTheIdleTimeout() async throws {
        let closedAfter = Locked<Duration?>(nil)
        let server = HostileTCPServer(lifetime: .seconds(10)) { connection in
            connection.readRequestHead()
            guard connection.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok") else { return }
            let answered = ContinuousClock.now
            var byte: UInt8 = 0
            while connection.open {
                let n = recv(connection.fd, &byte, 1, 0)
                if n == 0 { closedAfter.withLock { $0 = ContinuousClock.now - answered }; return }
                if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK { return }
            }
        }
        defer { server.stop() }
        let idleClient = HTTPClient(idleConnectionTimeout: .seconds(1))
        let response = try await idleClient.send(HTTPClientRequest(url: server.url + "/", deadline: .after(.seconds(2)))).get()
        #expect(response.status == 200)
        let end = ContinuousClock.now + .seconds(6)
        while closedAfter.current == nil && ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(50)) }
        let after = try #require(closedAfter.current, "the idle connection was still open 6 s after a 1 s idle timeout")
        #expect(after >= .milliseconds(900), "closed \(after) after the answer: before the idle timeout")
    }

    @Test("a socket() failing with EMFILE or ENFILE is resource_exhausted, not connection_refused")
    func test_socketExhaustion_errnos() {
        #expect(SocketExhaustion(errno: EMFILE) == .processDescriptors)
        #expect(SocketExhaustion(errno: ENFILE) == .systemDescriptors)
        #expect(SocketExhaustion(errno: ENOBUFS) == .memory)
        #expect(SocketExhaustion(errno: ECONNREFUSED) == nil)
        #expect(SocketExhaustion(errno: 0) == nil)
    }
}
