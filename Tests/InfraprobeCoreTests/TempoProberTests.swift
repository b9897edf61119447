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

    /// One target, probed several times, as the exporter does between reloads (the prober remembers its pushes).
    struct Repeated {
        let target: TargetSpec
        init(_ settings: [String]) throws {
            let yaml = "targets:\n  t:\n    prober: tempo\n" + settings.map { "    \($0)\n" }.joined()
            target = try ConfigLoader(environment: ProbeHarness.environment).parse(yaml: yaml, file: "test.yml", baseDirectory: URL(fileURLWithPath: NSTemporaryDirectory())).targets[0]
        }
        func probe(timeout: Duration = .milliseconds(1500)) async -> ProbeHarness.Outcome {
            let start = ContinuousClock.now
            let result = await ComponentRunner.run(target: target, deadline: .after(timeout), environment: ProbeHarness.environment)
            return ProbeHarness.Outcome(result: result, elapsed: ContinuousClock.now - start)
        }
    }

    func searchSteps(_ outcome: ProbeHarness.Outcome) -> String {
        outcome.component("trace_search")?.steps.map(\.text).joined(separator: "\n") ?? ""
    }

    @Test("healthy Tempo 3.x (search lags 5-10 s): by id at once; the first probe's search is pending, not failing")
    func test_tempoProbe_allComponentsUp_whenHealthy() async throws {
        try await withFake { fake in
            let outcome = try await ProbeHarness.probe("tempo", settings(fake))
            #expect(outcome.allUp, "\(outcome.summary)")
            #expect(outcome.result.components.map(\.component) == Self.components)
            #expect(outcome.result.version == "3.0.0")
            #expect(outcome.fact("infraprobe_tempo_search_verified") == 0)
            #expect(searchSteps(outcome).contains("search pending"), "\(searchSteps(outcome))")
            #expect(fake.spans.current.count == 1)
            #expect(fake.spans.current.first?.attributes["service.name"] == "infraprobe")
            #expect(fake.requestLog.current.contains { $0.contains("/api/v2/traces/") })
        }
    }

    @Test("Tempo 2.x search lag (10 s idle + 10 s check = up to 20 s) under a 10 s scrape timeout: steady state searches an earlier probe's trace and passes",
          arguments: [("2.8.2", FakeTempo.SearchLag.tempo2, 20), ("3.0.0", .tempo3, 10)])
    func test_tempoProbe_traceSearch_passesInSteadyState(version: String, lag: FakeTempo.SearchLag, lagSeconds: Int) async throws {
        try await withFake(FakeTempo(version: version, searchLag: lag)) { fake in
            let target = try Repeated(settings(fake, extra: ["search_lag: \(lagSeconds)s"]))
            let first = await target.probe(timeout: .seconds(10))
            #expect(first.allUp, "\(first.summary)")
            #expect(first.fact("infraprobe_tempo_search_verified") == 0, "a trace just pushed cannot be searchable yet")
            #expect(first.elapsed < .seconds(3), "warm-up does not wait out the scrape: \(first.elapsed)")
            let firstNonce = try #require(fake.spans.current.first?.attributes["infraprobe.nonce"])
            try await Task.sleep(for: lag.worstCase + .milliseconds(200))
            let second = await target.probe(timeout: .seconds(10))
            #expect(second.allUp, "\(second.summary)")
            #expect(second.fact("infraprobe_tempo_search_verified") == 1)
            #expect(searchSteps(second).contains(firstNonce), "searched the earlier probe's trace")
            #expect(second.elapsed < .seconds(10))
        }
    }

    @Test("search broken in steady state: once a probe trace is older than search_lag, trace_search fails")
    func test_tempoProbe_traceSearch_failsAfterWarmUp_whenSearchBroken() async throws {
        try await withFake(FakeTempo(searchLag: FakeTempo.SearchLag.none)) { fake in
            fake.breakage.withLock { $0 = .searchMissesTrace }
            let target = try Repeated(settings(fake, extra: ["search_lag: 1s"]))
            let warmUp = await target.probe()
            #expect(warmUp.up("trace_search"), "pending during warm-up: \(warmUp.summary)")
            try await Task.sleep(for: .milliseconds(1100))
            let steady = await target.probe()
            #expect(steady.reason("trace_search") == .timeout, "\(steady.summary)")
            #expect(steady.component("trace_search")?.failure?.message.contains("earlier probe") == true)
            #expect(steady.elapsed < .seconds(2))
        }
    }

    @Test("version matrix 2.4-2.8 and 3.x: every component passes (v1 fallback before 2.6, both not-found bodies)",
          arguments: ["2.4.2", "2.5.0", "2.6.1", "2.7.2", "2.8.2", "3.0.0"])
    func test_tempoProbe_allUp_acrossVersions(version: String) async throws {
        try await withFake(FakeTempo(version: version, visibilityDelay: .milliseconds(200))) { fake in
            let outcome = try await ProbeHarness.probe("tempo", settings(fake))
            #expect(outcome.allUp, "\(outcome.summary)")
            #expect(outcome.result.version == version)
            let log = fake.requestLog.current
            let usedV1 = log.contains { $0.contains("GET /api/traces/") }
            #expect(usedV1 == !FakeTempo.atLeast(version, 2, 6), "\(log)")
        }
    }

    @Test("a wrong API path (http_api_prefix) fails trace_query fast with http_status, not as a slow Tempo")
    func test_tempoProbe_wrongAPIPath_isHTTPStatus() async throws {
        try await withFake(FakeTempo(httpAPIPrefix: "/tempo")) { fake in
            let outcome = try await ProbeHarness.probe("tempo", settings(fake))
            #expect(outcome.up("service_running"))
            #expect(outcome.reason("trace_query") == .httpStatus, "\(outcome.summary)")
            #expect(outcome.component("trace_query")?.failure?.message.contains("http_api_prefix") == true)
            #expect(outcome.elapsed < .seconds(1))
        }
    }

    @Test("ingest lag: query and search poll until the span shows up, within the deadline")
    func test_tempoProbe_pollsUntilVisible() async throws {
        try await withFake(FakeTempo(visibilityDelay: .milliseconds(300), searchLag: FakeTempo.SearchLag.none)) { fake in
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
              (.spanNeverQueryable, ["trace_query"], .timeout),
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
