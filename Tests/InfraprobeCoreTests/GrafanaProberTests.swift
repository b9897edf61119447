import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

@Suite("Grafana prober against an API-faithful fake Grafana")
struct GrafanaProberTests {
    static let components = ["service_running", "datasources_healthy", "dashboards_available", "ui_accessible"]

    func withFake(_ body: (FakeGrafana) async throws -> Void) async throws {
        let fake = FakeGrafana()
        try fake.start()
        // Stopping waits for in-flight handlers, which need the cooperative pool: stop off it.
        do { try await body(fake) } catch { await fake.stopOffPool(); throw error }
        await fake.stopOffPool()
    }

    func settings(_ fake: FakeGrafana, token: String? = nil, extra: [String] = []) throws -> [String] {
        ["url: \(fake.url)", "token_file: \(try ProbeHarness.secretFile(token ?? fake.token))"] + extra
    }

    @Test("healthy Grafana: all components pass, datasource states and version reported")
    func test_grafanaProbe_allComponentsUp_whenHealthy() async throws {
        try await withFake { fake in
            let outcome = try await ProbeHarness.probe("grafana", try settings(fake))
            #expect(outcome.allUp, "\(outcome.summary)")
            #expect(outcome.result.components.map(\.component) == Self.components)
            #expect(outcome.result.version == "11.2.0")
            #expect(outcome.fact("infraprobe_grafana_datasources", ["state": "healthy"]) == 2)
            #expect(outcome.fact("infraprobe_grafana_datasources", ["state": "failing"]) == 0)
            #expect(fake.requestLog.current.contains { $0.contains("/api/datasources/uid/P214B5B846CF3925F/health") })
            #expect(fake.requestLog.current.contains { $0.contains("/api/datasources/uid/prometheus-main/health") })
        }
    }

    @Test("configured dashboard UIDs must resolve; an unknown one fails dashboards_available")
    func test_grafanaProbe_checksConfiguredDashboards() async throws {
        try await withFake { fake in
            let good = try await ProbeHarness.probe("grafana", try settings(fake, extra: ["dashboard_uids: [cIBgcSjkk]"]))
            #expect(good.up("dashboards_available"), "\(good.summary)")
            let bad = try await ProbeHarness.probe("grafana", try settings(fake, extra: ["dashboard_uids: [cIBgcSjkk, nope]"]))
            #expect(bad.reason("dashboards_available") == .unexpectedResponse, "\(bad.summary)")
        }
    }

    @Test("general faults: every component fails with the right reason before the deadline", arguments: GeneralFault.all)
    func test_grafanaProbe_reportsFault(_ fault: GeneralFault) async throws {
        try await withFake { fake in
            fake.fault = fault
            let outcome = try await ProbeHarness.probe("grafana", try settings(fake))
            outcome.expectGeneralFault(fault)
        }
    }

    @Test("a rejected token: API components report auth, health and login still pass")
    func test_grafanaProbe_reportsAuth_whenTokenRejected() async throws {
        try await withFake { fake in
            let outcome = try await ProbeHarness.probe("grafana", try settings(fake, token: "glsa_revoked"))
            #expect(outcome.up("service_running"))
            #expect(outcome.up("ui_accessible"))
            #expect(outcome.reason("datasources_healthy") == .auth)
            #expect(outcome.reason("dashboards_available") == .auth)
            #expect(!outcome.result.components.flatMap(\.steps).map(\.text).joined().contains("glsa_revoked"))
        }
    }

    @Test("component breaks: the component that checks the broken feature fails",
          arguments: [
              (FakeGrafana.Break.databaseFailing, "service_running", FailureReason.notReady),
              (.oneDatasourceFailing, "datasources_healthy", .unexpectedResponse),
              (.noDashboards, "dashboards_available", .unexpectedResponse),
              (.loginRedirects, "ui_accessible", .httpStatus),
          ])
    func test_grafanaProbe_failsComponent_whenFeatureBroken(_ breakage: FakeGrafana.Break, _ component: String, _ reason: FailureReason) async throws {
        try await withFake { fake in
            fake.breakage.withLock { $0 = breakage }
            let outcome = try await ProbeHarness.probe("grafana", try settings(fake))
            #expect(outcome.reason(component) == reason, "\(outcome.summary)")
            for other in Self.components where other != component {
                #expect(outcome.up(other), "\(other) should pass: \(outcome.summary)")
            }
            if breakage == .oneDatasourceFailing {
                #expect(outcome.fact("infraprobe_grafana_datasources", ["state": "failing"]) == 1)
                #expect(outcome.fact("infraprobe_grafana_datasources", ["state": "healthy"]) == 1)
                #expect(outcome.component(component)?.failure?.message.contains("Tempo") == true)
            }
        }
    }
}
