import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

@Suite("OpenTelemetry Collector prober against an API-faithful fake collector")
struct OTelCollectorProberTests {
    static let components = ["service_running", "otlp_traces_ingest", "otlp_metrics_ingest", "self_metrics"]

    func withFake(totalSuffix: Bool = false, bearer: String? = nil, _ body: (FakeOTelCollector) async throws -> Void) async throws {
        let fake = FakeOTelCollector(totalSuffix: totalSuffix, bearer: bearer)
        try fake.start()
        // Stopping waits for in-flight handlers, which need the cooperative pool: stop off it.
        do { try await body(fake) } catch { await fake.stopOffPool(); throw error }
        await fake.stopOffPool()
    }

    func settings(_ fake: FakeOTelCollector, extra: [String] = []) -> [String] {
        ["health_url: \(fake.url("health"))/", "otlp_url: \(fake.url("otlp"))", "metrics_url: \(fake.url("metrics"))/metrics"] + extra
    }

    @Test("healthy collector: span and gauge point accepted, self-metrics facts and version reported",
          arguments: [false, true])
    func test_otelProbe_allComponentsUp_whenHealthy(totalSuffix: Bool) async throws {
        try await withFake(totalSuffix: totalSuffix) { fake in
            let outcome = try await ProbeHarness.probe("otel_collector", settings(fake))
            #expect(outcome.allUp, "\(outcome.summary)")
            #expect(outcome.result.components.map(\.component) == Self.components)
            #expect(fake.counters.current.acceptedSpans == 1)
            #expect(fake.counters.current.acceptedPoints == 1)
            #expect(outcome.fact("infraprobe_otelcol_process_uptime_seconds") == 42.51)
            #expect(outcome.fact("infraprobe_otelcol_receiver_refused_spans") == 0)
            #expect(outcome.fact("infraprobe_otelcol_receiver_accepted_spans") != nil)
            #expect(outcome.fact("infraprobe_otelcol_receiver_accepted_metric_points") != nil)
            #expect(outcome.result.version == "0.159.0")
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
        try await withFake(bearer: "right") { fake in
            let outcome = try await ProbeHarness.probe("otel_collector", settings(fake, extra: ["token_file: \(try ProbeHarness.secretFile("wrong"))"]))
            #expect(outcome.reason("otlp_traces_ingest") == .auth, "\(outcome.summary)")
            #expect(outcome.reason("otlp_metrics_ingest") == .auth)
            #expect(outcome.up("service_running"))
            let good = try await ProbeHarness.probe("otel_collector", settings(fake, extra: ["token: right"]))
            #expect(good.allUp, "\(good.summary)")
        }
    }

    @Test("component breaks: the component that checks the broken feature fails",
          arguments: [
              (FakeOTelCollector.Break.notReady, "service_running", FailureReason.notReady),
              (.rejectsSpans, "otlp_traces_ingest", .unexpectedResponse),
              (.noMetricsPipeline, "otlp_metrics_ingest", .httpStatus),
              (.selfMetricsWithoutCollectorSeries, "self_metrics", .unexpectedResponse),
          ])
    func test_otelProbe_failsComponent_whenFeatureBroken(_ breakage: FakeOTelCollector.Break, _ component: String, _ reason: FailureReason) async throws {
        try await withFake { fake in
            fake.breakage.withLock { $0 = breakage }
            let outcome = try await ProbeHarness.probe("otel_collector", settings(fake))
            #expect(outcome.reason(component) == reason, "\(outcome.summary)")
            for other in Self.components where other != component {
                #expect(outcome.up(other), "\(other) should pass: \(outcome.summary)")
            }
        }
    }

    @Test("a custom health_check response_body is accepted only when configured")
    func test_otelProbe_customHealthBody() async throws {
        try await withFake { fake in
            let outcome = try await ProbeHarness.probe("otel_collector", settings(fake, extra: ["health_response_body: I'm fine"]))
            #expect(outcome.reason("service_running") == .unexpectedResponse, "the default JSON is not the configured body")
        }
    }
}
