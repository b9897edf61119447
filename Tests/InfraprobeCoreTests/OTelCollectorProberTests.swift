import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

@Suite("OpenTelemetry Collector prober against an API-faithful fake collector")
struct OTelCollectorProberTests {
    static let components = ["service_running", "otlp_traces_ingest", "otlp_metrics_ingest", "self_metrics"]
    /// Releases users run: before and after the v0.149 label move, and around the suffix bugs of explicit readers.
    static let versions: [FakeVersion] = ["0.100.0", "0.130.0", "0.148.0", "0.149.0", "0.159.0"]

    func withFake(_ fake: FakeOTelCollector = FakeOTelCollector(), _ body: (FakeOTelCollector) async throws -> Void) async throws {
        try fake.start()
        // Stopping waits for in-flight handlers, which need the cooperative pool: stop off it.
        do { try await body(fake) } catch { await fake.stopOffPool(); throw error }
        await fake.stopOffPool()
    }

    func settings(_ fake: FakeOTelCollector, extra: [String] = []) -> [String] {
        ["health_url: \(fake.healthURL)", "otlp_url: \(fake.url("otlp"))", "metrics_url: \(fake.url("metrics"))/metrics"] + extra
    }

    @Test("healthy collector of each version, default and explicit readers: everything passes, facts and version reported",
          arguments: versions, [false, true])
    func test_otelProbe_allComponentsUp_acrossVersions(version: FakeVersion, explicitReaders: Bool) async throws {
        try await withFake(FakeOTelCollector(version: version, explicitReaders: explicitReaders)) { fake in
            let outcome = try await ProbeHarness.probe("otel_collector", settings(fake))
            #expect(outcome.allUp, "\(outcome.summary)")
            #expect(outcome.result.components.map(\.component) == Self.components)
            #expect(fake.counters.current.acceptedSpans == 1)
            #expect(fake.counters.current.acceptedPoints == 1)
            #expect(outcome.fact("infraprobe_otelcol_process_uptime_seconds") == 42.51)
            #expect(outcome.fact("infraprobe_otelcol_receiver_refused_spans") == 0)
            #expect(outcome.fact("infraprobe_otelcol_receiver_accepted_spans") != nil)
            #expect(outcome.fact("infraprobe_otelcol_receiver_accepted_metric_points") != nil)
            #expect(outcome.fact("infraprobe_otelcol_exporter_send_failed_spans") == 0)
            #expect(outcome.result.version == version.description, "version from target_info (≥ 0.149) or the series labels (older)")
        }
    }

    @Test("the fake writes each version's exposition: service labels on every series before v0.149, only on target_info after")
    func test_fakeCollector_selfMetricsLabels_followVersion() async throws {
        for (version, onEvery) in [("0.148.0", true), ("0.149.0", false)] {
            try await withFake(FakeOTelCollector(version: FakeVersion(version))) { fake in
                let text = try await HTTPFetch.getOffPool(fake.url("metrics") + "/metrics").text
                let samples = PrometheusText.parse(text)
                let uptime = try #require(samples.first { $0.name == "otelcol_process_uptime" })
                #expect((uptime.labels["service_version"] != nil) == onEvery, "\(version)")
                #expect(samples.first { $0.name == "target_info" }?.labels["service_version"] == version)
            }
        }
    }

    @Test("general faults: every component fails with the right reason before the deadline", arguments: GeneralFault.all)
    func test_otelProbe_reportsFault(_ fault: GeneralFault) async throws {
        try await withFake { fake in
            fake.fault = fault
            let outcome = try await ProbeHarness.probe("otel_collector", settings(fake))
            outcome.expectGeneralFault(fault)
        }
    }

    @Test("an authenticator rejecting the token: both ingest components report auth")
    func test_otelProbe_reportsAuth_whenTokenRejected() async throws {
        try await withFake(FakeOTelCollector(bearer: "right")) { fake in
            let outcome = try await ProbeHarness.probe("otel_collector", settings(fake, extra: ["token_file: \(try ProbeHarness.secretFile("wrong"))"]))
            #expect(outcome.reason("otlp_traces_ingest") == .auth, "\(outcome.summary)")
            #expect(outcome.reason("otlp_metrics_ingest") == .auth)
            #expect(outcome.up("service_running"))
            let good = try await ProbeHarness.probe("otel_collector", settings(fake, extra: ["token: right"]))
            #expect(good.allUp, "\(good.summary)")
        }
    }

    @Test("component breaks: the components that check the broken feature fail with the real service's reason",
          arguments: [
              (FakeOTelCollector.Break.notReady, ["service_running"], FailureReason.notReady),
              // memory_limiter and a full queue refuse every signal with 503; never a partialSuccess.
              (.memoryPressure, ["otlp_traces_ingest", "otlp_metrics_ingest"], .resourceExhausted),
              (.queueFull, ["otlp_traces_ingest", "otlp_metrics_ingest"], .resourceExhausted),
              (.throttled, ["otlp_traces_ingest", "otlp_metrics_ingest"], .resourceExhausted),
              (.downstreamUnimplemented, ["otlp_traces_ingest", "otlp_metrics_ingest"], .httpStatus),
              (.noMetricsPipeline, ["otlp_metrics_ingest"], .httpStatus),
              (.selfMetricsWithoutCollectorSeries, ["self_metrics"], .unexpectedResponse),
          ])
    func test_otelProbe_failsComponent_whenFeatureBroken(_ breakage: FakeOTelCollector.Break, _ broken: [String], _ reason: FailureReason) async throws {
        try await withFake { fake in
            fake.breakage.withLock { $0 = breakage }
            let outcome = try await ProbeHarness.probe("otel_collector", settings(fake))
            for component in broken {
                #expect(outcome.reason(component) == reason, "\(component): \(outcome.summary)")
            }
            for other in Self.components where !broken.contains(other) {
                #expect(outcome.up(other), "\(other) should pass: \(outcome.summary)")
            }
        }
    }

    @Test("overload messages carry the collector's own words")
    func test_otelProbe_namesMemoryLimiter_whenRefused() async throws {
        try await withFake { fake in
            fake.breakage.withLock { $0 = .memoryPressure }
            let outcome = try await ProbeHarness.probe("otel_collector", settings(fake))
            #expect(outcome.component("otlp_traces_ingest")?.failure?.message.contains("data refused due to high memory usage") == true, "\(outcome.summary)")
        }
    }

    @Test("every health_check mode a healthy collector can answer in counts as up",
          arguments: [FakeOTelCollector.HealthMode.v1, .v2, .checkCollectorPipeline])
    func test_otelProbe_serviceRunningUp_inEveryHealthMode(_ mode: FakeOTelCollector.HealthMode) async throws {
        try await withFake(FakeOTelCollector(healthMode: mode)) { fake in
            let outcome = try await ProbeHarness.probe("otel_collector", settings(fake))
            #expect(outcome.up("service_running"), "\(mode): \(outcome.summary)")
        }
    }

    @Test("a starting or failed collector is not_ready in every health mode",
          arguments: [FakeOTelCollector.HealthMode.v1, .v2, .checkCollectorPipeline], [FakeOTelCollector.Break.notReady, .fatal])
    func test_otelProbe_serviceRunningNotReady_inEveryHealthMode(_ mode: FakeOTelCollector.HealthMode, _ breakage: FakeOTelCollector.Break) async throws {
        try await withFake(FakeOTelCollector(healthMode: mode)) { fake in
            fake.breakage.withLock { $0 = breakage }
            let outcome = try await ProbeHarness.probe("otel_collector", settings(fake))
            #expect(outcome.reason("service_running") == .notReady, "\(mode) \(breakage): \(outcome.summary)")
        }
    }

    @Test("a custom health_check response_body: accepted when configured, reported when not")
    func test_otelProbe_customHealthBody() async throws {
        try await withFake(FakeOTelCollector(healthMode: .customBody(healthy: "ALL OK", unhealthy: "NOT OK"))) { fake in
            let configured = try await ProbeHarness.probe("otel_collector", settings(fake, extra: ["health_response_body: ALL OK"]))
            #expect(configured.up("service_running"), "\(configured.summary)")
            let unconfigured = try await ProbeHarness.probe("otel_collector", settings(fake))
            #expect(unconfigured.reason("service_running") == .unexpectedResponse)
            #expect(unconfigured.component("service_running")?.failure?.message.contains("health_response_body") == true)
            fake.breakage.withLock { $0 = .notReady }
            let down = try await ProbeHarness.probe("otel_collector", settings(fake, extra: ["health_response_body: ALL OK"]))
            #expect(down.reason("service_running") == .notReady)
        }
        try await withFake { fake in
            let outcome = try await ProbeHarness.probe("otel_collector", settings(fake, extra: ["health_response_body: I'm fine"]))
            #expect(outcome.reason("service_running") == .unexpectedResponse, "the default JSON is not the configured body")
        }
    }

    @Test("a health path with a trailing slash is requested as configured (Go's mux would answer 301 without it)")
    func test_otelProbe_keepsTrailingSlash_ofHealthPath() async throws {
        try await withFake(FakeOTelCollector(healthPath: "/health/")) { fake in
            let outcome = try await ProbeHarness.probe("otel_collector", settings(fake))
            #expect(outcome.up("service_running"), "\(outcome.summary)")
            #expect(fake.requestLog.current.contains("health GET /health/"))
            #expect(!fake.requestLog.current.contains("health GET /health"))
            let withoutSlash = try await ProbeHarness.probe("otel_collector", settings(fake).map {
                $0.hasPrefix("health_url:") ? "health_url: \(fake.url("health"))/health" : $0
            })
            #expect(withoutSlash.reason("service_running") == .httpStatus)
            #expect(withoutSlash.component("service_running")?.failure?.message.contains("to /health/: set health_url") == true, "\(withoutSlash.summary)")
        }
    }

    @Test("self-metric names under every reader spelling match; other names do not",
          arguments: [("otelcol_process_uptime", true), ("otelcol_process_uptime_total", true), ("otelcol_process_uptime_seconds_total", true),
                      ("otelcol_process_uptime__seconds__total", true), ("otelcol_process_uptime_seconds", true),
                      ("otelcol_process_uptime_foo", false), ("otelcol_process_uptimes", false), ("otelcol_process", false)])
    func test_otelMetricName_matchesReaderSpellings(_ exposed: String, _ expected: Bool) {
        #expect(OTelCollectorProber.matches(exposed, "otelcol_process_uptime") == expected)
    }

    @Test("v0.130's annotated span counter matches its base name")
    func test_otelMetricName_matchesAnnotatedCounter() {
        #expect(OTelCollectorProber.matches("otelcol_exporter_sent_spans__spans__total", "otelcol_exporter_sent_spans"))
        #expect(!OTelCollectorProber.matches("otelcol_exporter_sent_spans__spans__total", "otelcol_exporter_sent"))
    }
}
