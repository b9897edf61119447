import Foundation
import Testing
@testable import InfraprobeCore

/// SIGTERM against the real binary while scrapes are in flight: they finish with a valid
/// answer and the process exits 0. It must never abort (libmicrohttpd panics when it is
/// stopped while a connection is still suspended).
@Suite("Shutdown", .serialized)
struct ShutdownTests {
    final class Setup: @unchecked Sendable {
        private let fixture: LiveAndHungRedisExporter
        var redis: RedisServer { fixture.redis }
        var hole: BlackHoleListener { fixture.hole }
        var exporter: SpawnedExporter { fixture.exporter }

        init() throws {
            fixture = try LiveAndHungRedisExporter()
        }

        /// Waits (bounded) for the process to exit; its status (128 + signal if killed by one),
        /// nil if it is still running.
        func exitStatus(within: Duration) -> Int32? {
            let end = ContinuousClock.now + within
            while exporter.process.isRunning && ContinuousClock.now < end { usleep(20_000) }
            return exporter.process.status
        }
    }

    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await BlockingExecutor.shared.run { Result { try body() } }.get()
    }

    /// Starts slow scrapes (hung target, and the whole-config probe that includes it), then
    /// signals after `delay`; every scrape must come back complete and the exit be clean.
    static func expectGracefulExit(_ setup: Setup, after delay: Duration, signals: [Duration] = [.zero],
                                   during flood: SocketFlood? = nil) async throws {
        let base = setup.exporter.base
        async let hung1 = offPool { try HTTPFetch.get(base + "/probe?target=redis-hung", maxTime: 20) }
        async let hung2 = offPool { try HTTPFetch.get(base + "/probe?target=redis-hung", maxTime: 20) }
        async let all = offPool { try HTTPFetch.get(base + "/probe", maxTime: 20) }
        try await Task.sleep(for: .milliseconds(300))
        flood?.start()
        try await Task.sleep(for: delay)
        for offset in signals {
            try await Task.sleep(for: offset)
            setup.exporter.signal(SIGTERM)
        }
        for response in try await [hung1, hung2] {
            #expect(response.status == 200)
            #expect(response.text.contains("probe_success{target=\"redis-hung\"} 0"), "\(response.text)")
            #expect(response.text.contains("component=\"service_running\",reason=\"timeout\""), "\(response.text)")
        }
        let whole = try await all
        #expect(whole.status == 200)
        #expect(whole.text.contains("probe_success{target=\"redis-local\"} 1"), "\(whole.text)")
        #expect(whole.text.contains("probe_success{target=\"redis-hung\"} 0"), "\(whole.text)")
        let exit = try await offPool { setup.exitStatus(within: .seconds(10)) }
        #expect(exit == 0, "exit: \(String(describing: exit))\n\(setup.exporter.log)")
        #expect(!setup.exporter.log.lowercased().contains("panic"), "\(setup.exporter.log)")
    }

    @Test(arguments: [100, 1000, 2500])
    func test_sigterm_whileScrapesAreInFlight_letsThemFinish_andExitsZero(delayMilliseconds: Int) async throws {
        let setup = try await Self.offPool { try Setup() }
        defer { setup.exporter.stop() }
        try await Self.expectGracefulExit(setup, after: .milliseconds(delayMilliseconds))
    }

    @Test func test_secondSigterm_duringTheGrace_doesNotCutScrapesShort() async throws {
        let setup = try await Self.offPool { try Setup() }
        defer { setup.exporter.stop() }
        try await Self.expectGracefulExit(setup, after: .milliseconds(500), signals: [.zero, .milliseconds(500), .milliseconds(10)])
        #expect(setup.exporter.log.contains("already shutting down"))
    }

    @Test func test_sigterm_racingNewConnections_exitsZero_andAnswersOnlyWithValidResponses() async throws {
        let setup = try await Self.offPool { try Setup() }
        defer { setup.exporter.stop() }
        // New connections keep arriving while the signal lands: each gets served, a 503, or
        // the listen socket is already closed — never a crash.
        let flood = SocketFlood(port: setup.exporter.port, connections: 50,
                                payload: "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                mode: .request, reconnect: true, duration: .seconds(6))
        try await Self.expectGracefulExit(setup, after: .milliseconds(500), during: flood)
        let outcome = try await Self.offPool { flood.finish() }
        #expect(outcome.count(200) > 0)
        #expect(Set(outcome.statuses.keys).isSubset(of: [200, 503]), "\(outcome.statuses)")
    }
}

/// The same promise in-process, for a handler that ignores cancellation.
@Suite("HTTP server stop")
struct HTTPServerStopTests {
    @Test func test_stop_deliversTheAnswerOfAHandlerThatFinishesDuringTheGrace() async throws {
        // The handler ends while stop() is waiting; its answer must still reach the client
        // (the daemon was stopped between resume and write, and the client got an empty reply).
        for round in 0..<20 {
            let server = HTTPServer(listen: ListenAddress("127.0.0.1:0")!) { _, _ in
                try? await Task.sleep(for: .milliseconds(60))
                return .text(200, "answered")
            }
            try server.start()
            async let response = HTTPFetch.getOffPool("http://127.0.0.1:\(server.port)/")
            for _ in 0..<300 where server.inFlightCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
            await server.stopOffPool()
            let answer = try await response
            #expect(answer.status == 200 && answer.text == "answered\n", "round \(round): \(answer.status) \(answer.text)")
        }
    }

    @Test func test_stop_whenAHandlerOutlivesTheGrace_leavesTheDaemonRunningInsteadOfAborting() async throws {
        var options = HTTPServerOptions()
        options.shutdownGrace = .milliseconds(100)
        options.cancelGrace = .milliseconds(100)
        // Blocking work does not notice cancellation: the handler ends when it ends.
        let server = HTTPServer(listen: ListenAddress("127.0.0.1:0")!, options: options) { _, _ in
            _ = await BlockingExecutor.shared.run { usleep(1_500_000) }
            return .text(200, "late but whole")
        }
        try server.start()
        let url = "http://127.0.0.1:\(server.port)/"
        async let response = HTTPFetch.getOffPool(url)
        for _ in 0..<300 where server.inFlightCount == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(server.inFlightCount == 1)
        await server.stopOffPool()
        // stop() gave up waiting; the daemon still serves the handler's answer when it comes.
        let answer = try await response
        #expect(answer.status == 200)
        #expect(answer.text == "late but whole\n")
    }
}
