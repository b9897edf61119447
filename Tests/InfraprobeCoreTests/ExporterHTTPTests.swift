import Foundation
import Testing
@testable import InfraprobeCore

/// The exporter as Prometheus sees it: a real HTTP server on a free port, a real redis-server.
@Suite("Exporter over HTTP", .serialized)
struct ExporterHTTPTests {
    final class Harness: @unchecked Sendable {
        let redis: RedisServer
        let hole: BlackHoleListener
        let runtime: ExporterRuntime
        let configFile: URL
        var base: String { "http://127.0.0.1:\(runtime.server.port)" }

        init(maxRequests: Int = 40, configExtra: String = "") throws {
            redis = try RedisServer(["--requirepass", "never-shown-secret"])
            hole = try BlackHoleListener()
            configFile = redis.directory.appendingPathComponent("infraprobe.yml")
            try Self.config(redis: redis.address, hole: hole.address, extra: configExtra).write(to: configFile, atomically: true, encoding: .utf8)
            var settings = ExporterRuntime.Settings(configFile: configFile.path, listen: ListenAddress("127.0.0.1:0")!)
            settings.maxRequests = maxRequests
            settings.server.shutdownGrace = .seconds(5)
            runtime = try ExporterRuntime(settings: settings)
            try runtime.start()
        }

        static func config(redis: String, hole: String, extra: String = "") -> String {
            """
            timeout: 5s
            targets:
              redis-main:
                prober: redis
                address: \(redis)
                password: never-shown-secret
              redis-hung:
                prober: redis
                address: \(hole)
                timeout: 1s
            \(extra)
            """
        }

        func get(_ path: String, method: String = "GET", headers: [String: String] = [:]) async throws -> Fetched {
            let url = base + path
            return try await BlockingExecutor.shared.run { Result { try HTTPFetch.get(url, method: method, headers: headers) } }.get()
        }

        deinit { runtime.stop() }
    }

    @Test func test_probe_servesMetricsForTarget_thatPassPromtool() async throws {
        let harness = try Harness()
        let response = try await harness.get("/probe?target=redis-main")
        #expect(response.status == 200)
        #expect(response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(response.text.contains("probe_success{target=\"redis-main\"} 1"), "\(response.text)")
        #expect(response.text.contains("infraprobe_component_up{target=\"redis-main\",prober=\"redis\",component=\"stream_operations\"} 1"))
        #expect(response.text.contains("infraprobe_service_info{target=\"redis-main\",prober=\"redis\",version=\"7.0.15\"} 1"))
        #expect(!response.text.contains("redis-hung"))
        #expect(!response.text.contains("never-shown-secret"))
        try await ExpositionCheck.promtool(response.text)
        try await ExpositionCheck.pythonParser(response.text, openMetrics: false)
    }

    @Test func test_probe_answersOpenMetrics_whenAccepted() async throws {
        let harness = try Harness()
        let response = try await harness.get("/probe?target=redis-main", headers: ["Accept": "application/openmetrics-text; version=1.0.0"])
        #expect(response.headers["content-type"]?.hasPrefix("application/openmetrics-text; version=1.0.0") == true)
        #expect(response.text.hasSuffix("# EOF\n"))
        try await ExpositionCheck.pythonParser(response.text, openMetrics: true)
    }

    @Test func test_probe_gzipsBody_whenClientAcceptsIt() async throws {
        let harness = try Harness()
        let response = try await harness.get("/probe?target=redis-main", headers: ["Accept-Encoding": "gzip"])
        #expect(response.headers["content-encoding"] == "gzip")
        #expect(Array(response.body.prefix(2)) == [0x1f, 0x8b])
    }

    @Test func test_probe_rejectsUnknownTarget_with400AndOneLineReason() async throws {
        let harness = try Harness()
        let response = try await harness.get("/probe?target=nope")
        #expect(response.status == 400)
        #expect(response.text == "unknown target \"nope\": not in the configuration\n")
    }

    @Test func test_server_answers404_405_andHealth() async throws {
        let harness = try Harness()
        #expect(try await harness.get("/nothing-here").status == 404)
        let post = try await harness.get("/probe?target=redis-main", method: "POST")
        #expect(post.status == 405)
        #expect(post.headers["allow"] == "GET, HEAD")
        #expect(try await harness.get("/-/healthy").status == 200)
        #expect(try await harness.get("/-/ready").status == 200)
        #expect(try await harness.get("/-/reload").status == 405)
        let landing = try await harness.get("/")
        #expect(landing.status == 200 && landing.text.contains("href=\"/metrics\""))
    }

    @Test func test_probeAll_probesEveryTarget_andAddsOverallRatio() async throws {
        let harness = try Harness()
        let started = ContinuousClock.now
        let response = try await harness.get("/probe")
        #expect(ContinuousClock.now - started < .milliseconds(1800), "hung target must not delay beyond its 1s timeout")
        #expect(response.text.contains("probe_success{target=\"redis-main\"} 1"))
        #expect(response.text.contains("infraprobe_component_failure_info{target=\"redis-hung\",prober=\"redis\",component=\"service_running\",reason=\"timeout\"} 1"))
        #expect(response.text.contains("infraprobe_overall_health_ratio 0.5\n"))
        try await ExpositionCheck.promtool(response.text)
    }

    @Test func test_probe_honoursScrapeTimeoutHeader() async throws {
        let harness = try Harness()
        let started = ContinuousClock.now
        let response = try await harness.get("/probe?target=redis-hung", headers: ["X-Prometheus-Scrape-Timeout-Seconds": "0.8"])
        let elapsed = ContinuousClock.now - started
        #expect(response.status == 200)
        #expect(elapsed >= .milliseconds(250) && elapsed < .milliseconds(700), "deadline should be 0.8 − 0.5 = 0.3 s, took \(elapsed)")
        #expect(response.text.contains("reason=\"timeout\""))
    }

    @Test func test_concurrentScrapes_joinOneProbe() async throws {
        let harness = try Harness()
        let url = harness.base + "/probe?target=redis-hung"
        async let first = HTTPFetch.getOffPool(url)
        try await Task.sleep(for: .milliseconds(100))
        async let second = HTTPFetch.getOffPool(url)
        let (a, b) = try await (first, second)
        #expect(a.status == 200 && b.status == 200)
        let metrics = try await harness.get("/metrics").text
        #expect(metrics.contains("infraprobe_probes_total{prober=\"redis\",result=\"failure\"} 1\n"), "\(metrics)")
    }

    @Test func test_maxRequests_answers503_beyondTheCap() async throws {
        let harness = try Harness(maxRequests: 1)
        let url = harness.base + "/probe?target=redis-hung"
        async let slow = HTTPFetch.getOffPool(url)
        // Only once the slow probe really runs (curl may start late on a busy machine).
        for _ in 0..<300 where harness.runtime.server.inFlightCount == 0 { try await Task.sleep(for: .milliseconds(10)) }
        let rejected = try await harness.get("/probe?target=redis-main")
        #expect(rejected.status == 503)
        #expect(try await slow.status == 200)
        #expect(try await harness.get("/probe?target=redis-main").status == 200)
    }

    @Test func test_selfMetrics_countProbesAndRequests_andPassPromtool() async throws {
        let harness = try Harness()
        _ = try await harness.get("/probe?target=redis-main")
        _ = try await harness.get("/probe?target=missing")
        let metrics = try await harness.get("/metrics")
        #expect(metrics.text.contains("infraprobe_probes_total{prober=\"redis\",result=\"success\"} 1"))
        #expect(metrics.text.contains("infraprobe_http_requests_total{handler=\"/probe\",code=\"400\"} 1"))
        #expect(metrics.text.contains("infraprobe_probe_duration_seconds_count{prober=\"redis\"} 1"))
        #expect(metrics.text.contains("process_resident_memory_bytes "))
        #expect(metrics.text.contains("infraprobe_build_info{"))
        #expect(!metrics.text.contains("infraprobe_component_up"))
        try await ExpositionCheck.promtool(metrics.text)
        try await ExpositionCheck.pythonParser(metrics.text, openMetrics: false)
    }

    @Test func test_debugProbe_showsStepsAndConfig_withSecretRedacted() async throws {
        let harness = try Harness()
        let response = try await harness.get("/probe?target=redis-main&debug=true")
        #expect(response.status == 200)
        #expect(response.text.contains("AUTH <secret>"))
        #expect(response.text.contains("ZPOPMIN"))
        #expect(response.text.contains("password: <secret>"))
        #expect(!response.text.contains("never-shown-secret"))
        #expect(!(try await harness.get("/config").text.contains("never-shown-secret")))
    }

    @Test func test_reload_keepsOldConfig_whenFileBroken() async throws {
        let harness = try Harness()
        try "targets: [\n".write(to: harness.configFile, atomically: true, encoding: .utf8)
        let failed = try await harness.get("/-/reload", method: "POST")
        #expect(failed.status == 500)
        #expect(failed.text.contains("infraprobe.yml:"))
        #expect(try await harness.get("/probe?target=redis-main").status == 200)
        #expect(try await harness.get("/metrics").text.contains("infraprobe_config_last_reload_successful 0"))
        try Harness.config(redis: harness.redis.address, hole: harness.hole.address, extra: """
              redis-second:
                prober: redis
                address: \(harness.redis.address)
            """).write(to: harness.configFile, atomically: true, encoding: .utf8)
        #expect(try await harness.get("/-/reload", method: "POST").status == 200)
        #expect(try await harness.get("/probe?target=redis-second").status == 200)
        #expect(try await harness.get("/metrics").text.contains("infraprobe_config_last_reload_successful 1"))
    }

    @Test func test_shutdown_finishesInFlightScrape() async throws {
        let harness = try Harness()
        let url = harness.base + "/probe?target=redis-hung"
        async let scrape = HTTPFetch.getOffPool(url)
        // Stop only once the scrape really is in flight (curl may start late on a busy machine).
        for _ in 0..<300 where harness.runtime.server.inFlightCount == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(harness.runtime.server.inFlightCount == 1)
        let runtime = harness.runtime
        await BlockingExecutor.shared.run { runtime.stop() }
        let response = try await scrape
        #expect(response.status == 200)
        #expect(response.text.contains("reason=\"timeout\""))
    }
}
