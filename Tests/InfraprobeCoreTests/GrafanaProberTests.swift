import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

@Suite("Grafana prober against an API-faithful fake Grafana")
struct GrafanaProberTests {
    static let components = ["service_running", "datasources_healthy", "dashboards_available", "ui_accessible"]

    func withFake(_ fake: FakeGrafana = FakeGrafana(), _ body: (FakeGrafana) async throws -> Void) async throws {
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

    @Test("a signed-in request to /login is redirected to / by Grafana: the UI is checked without credentials and passes")
    func test_grafanaProbe_uiAccessible_whenTokenWouldBeRedirected() async throws {
        try await withFake { fake in
            let signedIn = try await HTTPFetch.getOffPool(fake.url + "/login", headers: ["Authorization": "Bearer \(fake.token)"])
            #expect(signedIn.status == 302 && signedIn.headers["location"] == "/", "the fake must redirect like LoginView")
            let outcome = try await ProbeHarness.probe("grafana", try settings(fake))
            #expect(outcome.up("ui_accessible"), "\(outcome.summary)")
        }
    }

    @Test("basic credentials sign in like a token: every component passes")
    func test_grafanaProbe_allUp_withBasicCredentials() async throws {
        try await withFake { fake in
            let outcome = try await ProbeHarness.probe("grafana", ["url: \(fake.url)", "username: \(fake.basicCredentials.user)",
                                                                   "password_file: \(try ProbeHarness.secretFile(fake.basicCredentials.password))"])
            #expect(outcome.allUp, "\(outcome.summary)")
        }
    }

    @Test("anonymous access on: /login redirects every request to /, which serves the app; ui_accessible passes")
    func test_grafanaProbe_uiAccessible_withAnonymousAccess() async throws {
        try await withFake(FakeGrafana(anonymous: true)) { fake in
            let anonymous = try await HTTPFetch.getOffPool(fake.url + "/login")
            #expect(anonymous.status == 302 && anonymous.headers["location"] == "/")
            let outcome = try await ProbeHarness.probe("grafana", try settings(fake))
            #expect(outcome.allUp, "\(outcome.summary)")
            #expect(fake.requestLog.current.contains("http GET /"))
        }
    }

    @Test("enforce_domain: health still answers, the API redirects and the failure names where to (set url to root_url)")
    func test_grafanaProbe_namesRedirect_whenDomainEnforced() async throws {
        try await withFake(FakeGrafana(enforceDomain: "grafana.example.com")) { fake in
            let outcome = try await ProbeHarness.probe("grafana", try settings(fake))
            #expect(outcome.up("service_running"), "\(outcome.summary)")
            #expect(outcome.reason("datasources_healthy") == .httpStatus)
            let message = outcome.component("datasources_healthy")?.failure?.message ?? ""
            #expect(message.contains("redirects (301) to http://grafana.example.com:3000/api/datasources"), "\(message)")
            #expect(outcome.reason("ui_accessible") == .httpStatus, "\(outcome.summary)")
        }
    }

    static let versions = ["10.4.2", "11.6.0", "12.3.0", "13.0.0"]

    @Test("frontend-only (Alertmanager) and no-health-check (Tempo < 12.3) datasources are unsupported, not failing, in every version",
          arguments: versions)
    func test_grafanaProbe_frontendOnlyDatasource_isNotFailing(version: String) async throws {
        let datasources = FakeGrafana.defaultDatasources.filter { $0.type == "prometheus" } + [
            .init(uid: "alertmanager", name: "Alertmanager", type: "alertmanager", typeName: "Alertmanager", url: "http://alertmanager:9093", plugin: .frontendOnly),
            .init(uid: "tempo", name: "Tempo", type: "tempo", typeName: "Tempo", url: "http://tempo:3200", plugin: .backendWithoutHealth),
        ]
        try await withFake(FakeGrafana(version: version, datasources: datasources)) { fake in
            let outcome = try await ProbeHarness.probe("grafana", try settings(fake))
            #expect(outcome.allUp, "\(outcome.summary)")
            #expect(outcome.result.version == version)
            #expect(outcome.fact("infraprobe_grafana_datasources", ["state": "healthy"]) == 1)
            #expect(outcome.fact("infraprobe_grafana_datasources", ["state": "unsupported"]) == 2)
            #expect(outcome.fact("infraprobe_grafana_datasources", ["state": "failing"]) == 0)
        }
    }

    @Test("a datasource whose plugin is missing is failing (404 plugin.notRegistered ≥ 11, 500 before), in every version", arguments: versions)
    func test_grafanaProbe_missingPlugin_isFailing(version: String) async throws {
        let datasources = FakeGrafana.defaultDatasources + [
            .init(uid: "clickhouse", name: "ClickHouse", type: "grafana-clickhouse-datasource", typeName: "ClickHouse", url: "http://ch:8123", plugin: .missing),
        ]
        try await withFake(FakeGrafana(version: version, datasources: datasources)) { fake in
            let outcome = try await ProbeHarness.probe("grafana", try settings(fake))
            #expect(outcome.reason("datasources_healthy") == .unexpectedResponse, "\(outcome.summary)")
            #expect(outcome.component("datasources_healthy")?.failure?.message.contains("ClickHouse") == true)
            #expect(outcome.fact("infraprobe_grafana_datasources", ["state": "failing"]) == 1)
        }
    }

    @Test("a crashed backend plugin answers Plugin unavailable like a frontend-only one, but is failing", arguments: versions)
    func test_grafanaProbe_crashedBackendPlugin_isFailing(version: String) async throws {
        try await withFake(FakeGrafana(version: version)) { fake in
            fake.breakage.withLock { $0 = .backendPluginCrashed }
            let outcome = try await ProbeHarness.probe("grafana", try settings(fake))
            #expect(outcome.reason("datasources_healthy") == .unexpectedResponse, "\(outcome.summary)")
            #expect(outcome.component("datasources_healthy")?.failure?.message.contains("Prometheus") == true)
        }
    }

    @Test("Grafana ≥ 12 answers 406 for a v2-schema dashboard: a configured UID stored that way still resolves", arguments: versions)
    func test_grafanaProbe_v2SchemaDashboard_resolves(version: String) async throws {
        try await withFake(FakeGrafana(version: version)) { fake in
            fake.v2Dashboards.withLock { $0 = ["cIBgcSjkk"] }
            let outcome = try await ProbeHarness.probe("grafana", try settings(fake, extra: ["dashboard_uids: [cIBgcSjkk]"]))
            #expect(outcome.up("dashboards_available"), "\(outcome.summary)")
            let answered406 = try await HTTPFetch.getOffPool(fake.url + "/api/dashboards/uid/cIBgcSjkk", headers: ["Authorization": "Bearer \(fake.token)"]).status == 406
            #expect(answered406 == (fake.major >= 12))
        }
    }

    @Test("one datasource's health check hangs: it is failing by name, the others still counted, before the deadline")
    func test_grafanaProbe_hangingDatasource_isNamed() async throws {
        try await withFake { fake in
            fake.breakage.withLock { $0 = .prometheusHealthHangs }
            let outcome = try await ProbeHarness.probe("grafana", try settings(fake))
            #expect(outcome.reason("datasources_healthy") == .unexpectedResponse, "\(outcome.summary)")
            #expect(outcome.component("datasources_healthy")?.failure?.message.contains("Prometheus") == true)
            #expect(outcome.fact("infraprobe_grafana_datasources", ["state": "healthy"]) == 1)
            #expect(outcome.fact("infraprobe_grafana_datasources", ["state": "failing"]) == 1)
            #expect(outcome.elapsed < .seconds(2))
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
