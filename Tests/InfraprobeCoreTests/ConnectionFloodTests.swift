import Foundation
import Testing
@testable import InfraprobeCore

/// Floods of hostile or merely numerous clients against the real binary: `/metrics` and the
/// scrape of a healthy Redis target stay on time during each, and threads and sockets come
/// back to where they were. Every flood is bounded in connections and time.
@Suite("Connection floods", .serialized)
struct ConnectionFloodTests {
    /// `/metrics` answers within this during a flood (Prometheus' default scrape timeout is 10 s;
    /// unloaded it takes about a millisecond).
    static let metricsBound = 2.0
    /// The Redis target's timeout: its scrape must be answered, successfully, before it.
    static let redisDeadline = 3.0

    /// Built off the cooperative pool (starting redis-server and the exporter blocks), and each
    /// test stops its exporter itself: when a test is the run's last, the process can exit
    /// before the test's locals are released, and a deinit would never send SIGTERM. The
    /// `defer` only blocks when a test failed early; normally `finish` already stopped it.
    final class Setup: @unchecked Sendable {
        private let fixture: LiveAndHungRedisExporter
        var redis: RedisServer { fixture.redis }
        var hole: BlackHoleListener { fixture.hole }
        var exporter: SpawnedExporter { fixture.exporter }
        var pid: pid_t { exporter.process.pid }

        init(arguments: [String] = [], webConfig: String? = nil) throws {
            OpenFileLimit.raiseSoftToHard()
            fixture = try LiveAndHungRedisExporter(localTimeout: "\(Int(ConnectionFloodTests.redisDeadline))s", arguments: arguments,
                                                   webConfig: webConfig)
        }

        var port: Int { exporter.port }


        struct Sample: Sendable {
            let metrics: Fetched
            let metricsTime: Double
            let probe: Fetched
            let probeTime: Double
        }

        /// Scrapes `/metrics` and the Redis target back to back until `end` (blocking).
        func scrape(until end: ContinuousClock.Instant, headers: [String: String] = [:]) throws -> [Sample] {
            var samples: [Sample] = []
            repeat {
                let (metrics, metricsTime) = try timedFetch(exporter.base + "/metrics", headers: headers)
                let (probe, probeTime) = try timedFetch(exporter.base + "/probe?target=redis-local", headers: headers)
                samples.append(Sample(metrics: metrics, metricsTime: metricsTime, probe: probe, probeTime: probeTime))
                usleep(100_000)
            } while ContinuousClock.now < end
            return samples
        }

        /// Descriptors and threads once they are back to the baseline, or after 5 s (blocking).
        func settled(threads: Int, sockets: Int) -> (threads: Int, sockets: Int) {
            let open = ProcessStats.settle(atMost: sockets, within: .seconds(5)) { ProcessStats.sockets(pid, excludingPeerPort: redis.port) }
            let now = ProcessStats.settle(atMost: threads + ConnectionFloodTests.threadSlack, within: .seconds(5)) { ProcessStats.threads(pid) }
            return (now, open)
        }

        func warmUp(headers: [String: String] = [:]) throws -> (threads: Int, sockets: Int) {
            _ = try timedFetch(exporter.base + "/probe?target=redis-local", headers: headers)
            _ = try timedFetch(exporter.base + "/metrics", headers: headers)
            usleep(300_000)
            return (ProcessStats.threads(pid), ProcessStats.sockets(pid, excludingPeerPort: redis.port))
        }
    }

    /// The runtime's own pool and dispatch threads come and go by this many.
    static let threadSlack = 2

    /// Every sample answered, `/metrics` within its bound, the Redis scrape successful before its
    /// deadline; returns the slowest of each.
    @discardableResult
    static func expectOnTime(_ samples: [Setup.Sample]) -> (metrics: Double, redis: Double) {
        #expect(samples.count >= 2)
        for sample in samples {
            #expect(sample.metrics.status == 200)
            #expect(sample.metricsTime < metricsBound, "/metrics took \(sample.metricsTime) s")
            #expect(sample.probe.status == 200)
            #expect(sample.probe.text.contains("probe_success{target=\"redis-local\"} 1"), "\(sample.probe.text)")
            #expect(sample.probeTime < redisDeadline, "the Redis scrape took \(sample.probeTime) s")
        }
        return (samples.map(\.metricsTime).max() ?? 0, samples.map(\.probeTime).max() ?? 0)
    }

    static func expectBackToBaseline(_ setup: Setup, _ baseline: (threads: Int, sockets: Int)) async throws {
        let now = try await offPool { setup.settled(threads: baseline.threads, sockets: baseline.sockets) }
        #expect(now.sockets <= baseline.sockets, "sockets: \(now.sockets), before the flood \(baseline.sockets): \(ProcessStats.socketSummary(setup.pid))")
        #expect(now.threads <= baseline.threads + threadSlack, "threads: \(now.threads), before the flood \(baseline.threads)")
    }

    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await BlockingExecutor.shared.run { Result { try body() } }.get()
    }

    @Test func test_slowloris_connectionTricklingHeaders_isClosedAfterConnectionTimeout() async throws {
        let setup = try await Self.offPool { try Setup(arguments: ["--web.connection-timeout", "2"]) }
        defer { setup.exporter.stop() }
        // One byte every 300 ms keeps MHD's inactivity timer from ever firing.
        let flood = SocketFlood(port: setup.port, connections: 1, payload: "GET /metrics HTTP/1.1\r\nX-Slow: ",
                                mode: .trickle(.milliseconds(300)), reconnect: false, duration: .seconds(6))
        let start = ContinuousClock.now
        flood.start()
        let outcome = try await Self.offPool { flood.wait() }
        let elapsed = (ContinuousClock.now - start).seconds
        #expect(outcome.closedByServer == 1)
        #expect(outcome.answered == 0)
        #expect(elapsed >= 1.8 && elapsed < 3.5, "closed after \(elapsed) s; the limit is 2 s")
        _ = try await Self.offPool { setup.exporter.stop() }
    }

    @Test func test_perIPLimit_refusesTheConnectionOverIt_andKeepsTheOthers() async throws {
        let setup = try await Self.offPool { try Setup(arguments: ["--web.max-connections-per-ip", "2"]) }
        defer { setup.exporter.stop() }
        // The start-up health check's connection counts against the limit until the exporter
        // has seen curl close it; the flood is to meet a limit of 2 of its own.
        let leftover = try await Self.offPool {
            ProcessStats.settle(atMost: 0, within: .seconds(5)) { ProcessStats.acceptedConnections(setup.pid, port: setup.port) }
        }
        #expect(leftover == 0)
        let flood = SocketFlood(port: setup.port, connections: 3, payload: "GET /metrics HTTP/1.1\r\nX-Slow: ",
                                mode: .trickle(.milliseconds(300)), reconnect: false, duration: .seconds(2))
        flood.start()
        let outcome = try await Self.offPool { flood.wait() }
        // Two are held (until the flood ends), the third is closed on arrival.
        #expect(outcome.opened == 3)
        #expect(outcome.closedByServer == 1, "\(outcome)")
        _ = try await Self.offPool { setup.exporter.stop() }
    }

    @Test func test_slowlorisFlood_ofAThousand_keepsMetricsAndScrapesOnTime() async throws {
        let setup = try await Self.offPool { try Setup() }
        defer { setup.exporter.stop() }
        let baseline = try await Self.offPool { try setup.warmUp() }
        let flood = SocketFlood(port: setup.port, connections: 1000, payload: "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ",
                                mode: .trickle(.milliseconds(500)), reconnect: true, duration: .seconds(10))
        flood.start()
        try await Task.sleep(for: .seconds(2))
        let worst = Self.expectOnTime(try await Self.offPool { try setup.scrape(until: .now + .seconds(6)) })
        let outcome = try await Self.offPool { flood.finish() }
        #expect(outcome.opened >= 1000)
        #expect(outcome.answered == 0, "\(outcome.statuses)")
        print("slowloris ×1000: slowest /metrics \(worst.metrics) s, slowest Redis scrape \(worst.redis) s, connections opened \(outcome.opened)")
        try await Self.expectBackToBaseline(setup, baseline)
        _ = try await Self.offPool { setup.exporter.stop() }
    }

    @Test func test_slowlorisFlood_overTheConnectionLimit_keepsMetricsAndScrapesOnTime() async throws {
        // 1000 trickling connections that reconnect as soon as they are closed, against a
        // limit of 256: new scrapers wait in the listen backlog behind the flood.
        let setup = try await Self.offPool { try Setup(arguments: ["--web.max-connections", "256"]) }
        defer { setup.exporter.stop() }
        let baseline = try await Self.offPool { try setup.warmUp() }
        let flood = SocketFlood(port: setup.port, connections: 1000, payload: "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ",
                                mode: .trickle(.milliseconds(300)), reconnect: true, duration: .seconds(10))
        flood.start()
        try await Task.sleep(for: .seconds(2))
        #expect(ProcessStats.sockets(setup.pid, excludingPeerPort: setup.redis.port) <= baseline.sockets + 256)
        let worst = Self.expectOnTime(try await Self.offPool { try setup.scrape(until: .now + .seconds(6)) })
        let outcome = try await Self.offPool { flood.finish() }
        #expect(outcome.opened > 1000, "the flood did reconnect: \(outcome.opened)")
        #expect(outcome.answered == 0, "\(outcome.statuses)")
        print("slowloris ×1000 over a limit of 256: slowest /metrics \(worst.metrics) s, slowest Redis scrape \(worst.redis) s, connections opened \(outcome.opened)")
        try await Self.expectBackToBaseline(setup, baseline)
        _ = try await Self.offPool { setup.exporter.stop() }
    }

    @Test func test_aThousandScrapesJoiningOneHungProbe_areBounded_andOthersStayOnTime() async throws {
        let setup = try await Self.offPool { try Setup() }
        defer { setup.exporter.stop() }
        // The hung target's probe uses a thread while it waits; let the baseline include it.
        _ = try await Self.offPool { try timedFetch(setup.exporter.base + "/probe?target=redis-hung") }
        let baseline = try await Self.offPool { try setup.warmUp() }
        let flood = SocketFlood(port: setup.port, connections: 1000, payload: "GET /probe?target=redis-hung HTTP/1.1\r\nHost: x\r\n\r\n",
                                mode: .request, reconnect: false, duration: .seconds(10))
        flood.start()
        try await Task.sleep(for: .milliseconds(300))
        let worst = Self.expectOnTime(try await Self.offPool { try setup.scrape(until: .now + .seconds(2)) })
        let outcome = try await Self.offPool { flood.wait() }
        // One scrape starts the probe, 8 join it (the default), every other one is refused at once.
        #expect(outcome.count(200) >= 1 && outcome.count(200) <= 9, "\(outcome.statuses)")
        #expect(outcome.count(503) == 1000 - outcome.count(200), "\(outcome.statuses)")
        #expect(outcome.closedByServer == 0)
        print("1000 scrapes joining a hung probe: \(outcome.statuses); slowest /metrics \(worst.metrics) s, slowest Redis scrape \(worst.redis) s")
        try await Self.expectBackToBaseline(setup, baseline)
        _ = try await Self.offPool { setup.exporter.stop() }
    }

    @Test func test_wrongPasswordFlood_keepsAuthenticatedScrapesOnTime() async throws {
        // Cost 10, as `htpasswd -nBC 10` makes: about 70 ms of CPU per check.
        let hash = try #require(BasicAuth.crypt("right", setting: "$2b$10$abcdefghijklmnopqrstuu"))
        let setup = try await Self.offPool { try Setup(webConfig: "basic_auth_users:\n  prometheus: '\(hash)'\n") }
        defer { setup.exporter.stop() }
        let good = ["Authorization": "Basic " + Data("prometheus:right".utf8).base64EncodedString()]
        let baseline = try await Self.offPool { try setup.warmUp(headers: good) }
        let wrong = Data("prometheus:wrong".utf8).base64EncodedString()
        let flood = SocketFlood(port: setup.port, connections: 100,
                                payload: "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic \(wrong)\r\nConnection: close\r\n\r\n",
                                mode: .request, reconnect: true, pause: .milliseconds(50), duration: .seconds(8))
        flood.start()
        try await Task.sleep(for: .seconds(1))
        let pid = setup.pid
        let threadsDuring = ProcessStats.threads(pid)
        let worst = Self.expectOnTime(try await Self.offPool { try setup.scrape(until: .now + .seconds(5), headers: good) })
        let outcome = try await Self.offPool { flood.finish() }
        // Every wrong password is refused, checked or (past BasicAuth's bounded queue) not.
        #expect(outcome.count(401) > 0 && outcome.count(401) == outcome.answered, "\(outcome.statuses)")
        #expect(threadsDuring <= baseline.threads + Self.threadSlack, "threads during the flood: \(threadsDuring), before \(baseline.threads)")
        print("wrong-password flood: \(outcome.statuses); slowest /metrics \(worst.metrics) s, slowest Redis scrape \(worst.redis) s")
        try await Self.expectBackToBaseline(setup, baseline)
        _ = try await Self.offPool { setup.exporter.stop() }
    }

    @Test func test_landingPageFlood_keepsMetricsAndScrapesOnTime() async throws {
        let setup = try await Self.offPool { try Setup() }
        defer { setup.exporter.stop() }
        let baseline = try await Self.offPool { try setup.warmUp() }
        let flood = SocketFlood(port: setup.port, connections: 50,
                                payload: "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                mode: .request, reconnect: true, pause: .milliseconds(50), duration: .seconds(8))
        flood.start()
        try await Task.sleep(for: .seconds(1))
        let worst = Self.expectOnTime(try await Self.offPool { try setup.scrape(until: .now + .seconds(5)) })
        let outcome = try await Self.offPool { flood.finish() }
        #expect(outcome.count(200) > 50, "\(outcome.statuses)")
        #expect(outcome.answered == outcome.count(200), "\(outcome.statuses)")
        print("landing-page flood: \(outcome.count(200)) pages; slowest /metrics \(worst.metrics) s, slowest Redis scrape \(worst.redis) s")
        try await Self.expectBackToBaseline(setup, baseline)
        _ = try await Self.offPool { setup.exporter.stop() }
    }
}
