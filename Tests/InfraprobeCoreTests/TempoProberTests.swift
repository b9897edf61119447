import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

@Suite("Tempo prober against an API-faithful fake Tempo")
struct TempoProberTests {
    static let components = ["service_running", "trace_ingest", "trace_query", "trace_search", "metrics_endpoint"]

    func withFake(_ fake: FakeTempo = FakeTempo(), _ body: (FakeTempo) async throws -> Void) async throws {
        try fake.start()
        // Stopping waits for in-flight handlers, which need the cooperative pool: stop off it.
        do { try await body(fake) } catch { await fake.stopOffPool(); throw error }
        await fake.stopOffPool()
    }

    func settings(_ fake: FakeTempo, extra: [String] = []) -> [String] {
        ["url: \(fake.url("http"))", "otlp_url: \(fake.url("otlp"))"] + extra
    }

    @Test("healthy Tempo: the pushed span is found by id and by search, version and metrics reported")
    func test_tempoProbe_allComponentsUp_whenHealthy() async throws {
        try await withFake { fake in
            let outcome = try await ProbeHarness.probe("tempo", settings(fake))
            #expect(outcome.allUp, "\(outcome.summary)")
            #expect(outcome.result.components.map(\.component) == Self.components)
            #expect(outcome.result.version == "2.6.0")
            #expect(fake.spans.current.count == 1)
            #expect(fake.spans.current.first?.attributes["service.name"] == "infraprobe")
            #expect(fake.requestLog.current.contains { $0.contains("/api/v2/traces/") })
        }
    }

    @Test("ingest lag: query and search poll until the span shows up, within the deadline")
    func test_tempoProbe_pollsUntilVisible() async throws {
        try await withFake(FakeTempo(visibilityDelay: .milliseconds(300))) { fake in
            let outcome = try await ProbeHarness.probe("tempo", settings(fake))
            #expect(outcome.allUp, "\(outcome.summary)")
            #expect(fake.requestLog.current.filter { $0.contains("/api/v2/traces/") }.count > 1)
        }
    }

    @Test("Tempo before 2.6 (no /api/v2): trace_query falls back to /api/traces")
    func test_tempoProbe_fallsBackToV1() async throws {
        try await withFake(FakeTempo(visibilityDelay: .milliseconds(100), v1Only: true)) { fake in
            let outcome = try await ProbeHarness.probe("tempo", settings(fake))
            #expect(outcome.up("trace_query"), "\(outcome.summary)")
            #expect(fake.requestLog.current.contains { $0.contains("GET /api/traces/") })
        }
    }

    @Test("multitenant Tempo: without the tenant header ingest reports auth and the dependents are not attempted")
    func test_tempoProbe_reportsAuth_whenTenantMissing() async throws {
        try await withFake(FakeTempo(tenant: "team-a")) { fake in
            let outcome = try await ProbeHarness.probe("tempo", settings(fake))
            #expect(outcome.reason("trace_ingest") == .auth, "\(outcome.summary)")
            #expect(outcome.reason("trace_query") == .dependencyFailed)
            #expect(outcome.reason("trace_search") == .dependencyFailed)
            let good = try await ProbeHarness.probe("tempo", settings(fake, extra: ["tenant: team-a"]))
            #expect(good.allUp, "\(good.summary)")
        }
    }

    @Test("general faults: every component fails with the right reason before the deadline", arguments: GeneralFault.all)
    func test_tempoProbe_reportsFault(_ fault: GeneralFault) async throws {
        try await withFake { fake in
            fake.fault = fault
            let outcome = try await ProbeHarness.probe("tempo", settings(fake))
            outcome.expectGeneralFault(fault)
        }
    }

    @Test("component breaks: the component that checks the broken feature fails",
          arguments: [
              (FakeTempo.Break.notReady, ["service_running"], FailureReason.notReady),
              (.spanNeverQueryable, ["trace_query", "trace_search"], .timeout),
              (.searchMissesTrace, ["trace_search"], .timeout),
              (.queryReturnsOtherTrace, ["trace_query"], .unexpectedResponse),
          ])
    func test_tempoProbe_failsComponent_whenFeatureBroken(_ breakage: FakeTempo.Break, _ failing: [String], _ reason: FailureReason) async throws {
        try await withFake { fake in
            fake.breakage.withLock { $0 = breakage }
            let outcome = try await ProbeHarness.probe("tempo", settings(fake))
            for component in failing { #expect(outcome.reason(component) == reason, "\(outcome.summary)") }
            for other in Self.components where !failing.contains(other) {
                #expect(outcome.up(other), "\(other) should pass: \(outcome.summary)")
            }
            #expect(outcome.elapsed < .seconds(2))
        }
    }
}
