import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// Grafana has no recorded HTTP transcripts; what exists is its official unit-test bodies
/// (pkg/api/health_test.go), doc examples, and the v13 OpenAPI models (shared/conformance/grafana).
/// The prober must pass on spec-shaped answers, and FakeGrafana must answer only with declared fields.
@Suite("Grafana prober and fake against Grafana's official test bodies and OpenAPI models")
struct GrafanaConformanceTests {
    typealias Route = ReplayServer.Route

    static func json(_ status: Int, _ value: JSONValue) -> RecordedResponse {
        RecordedResponse(status: status, headers: [("Content-Type", "application/json")], body: value.serialized)
    }

    static func run(_ routes: [Route], components: [String], extra: [String] = []) async throws -> (ProbeHarness.Outcome, ReplayServer) {
        let replay = try ReplayServer.started(routes)
        let outcome = try await ProbeHarness.probe("grafana", ["url: \(replay.url)", "token_file: \(try ProbeHarness.secretFile("glsa_x"))",
                                                               "components: [\(components.joined(separator: ", "))]"] + extra)
        await replay.stopOffPool()
        return (outcome, replay)
    }

    @Test("service_running against the official /api/health bodies: 200 with and without version pass, 503 failing is not_ready",
          arguments: [("200-db-ok-with-version.json.txt", 200, true), ("200-hide-version.json.txt", 200, true), ("503-db-failing.json.txt", 503, false)])
    func test_grafanaReplay_health(file: String, status: Int, passes: Bool) async throws {
        let body = try Conformance.json("grafana/api-health/" + file)
        let (outcome, replay) = try await Self.run([Route("GET", "/api/health", Self.json(status, body))], components: ["service_running"])
        #expect(outcome.up("service_running") == passes, "\(outcome.summary)")
        if !passes { #expect(outcome.reason("service_running") == .notReady) }
        #expect(outcome.result.version == body["version"]?.string)
        #expect(replay.unmatched.isEmpty)
    }

    @Test("datasources_healthy and dashboards_available against OpenAPI-shaped lists, the doc's health answer and a HitList")
    func test_grafanaReplay_specShapes() async throws {
        let health = try Conformance.json("grafana/api-health/200-db-ok-with-version.json.txt")
        let list: JSONValue = .array([try GrafanaSpec.instance("DataSourceListItemDTO", overrides: ["uid": "P8045C56BDA891CB2", "name": "CloudWatch"])])
        let hits: JSONValue = .array([try GrafanaSpec.instance("Hit", overrides: ["type": "dash-db", "uid": "cIBgcSjkk"]),
                                      try GrafanaSpec.instance("Hit", overrides: ["type": "dash-folder", "uid": "f"])])
        let dashboard = try GrafanaSpec.instance("DashboardFullWithMeta", overrides: ["dashboard": ["uid": "cIBgcSjkk", "title": "t"]])
        let routes = [
            Route("GET", "/api/health", Self.json(200, health)),
            Route("GET", "/api/datasources", Self.json(200, list)),
            Route("GET", "/api/datasources/uid/P8045C56BDA891CB2/health", try Transcript.load("grafana/docs-examples/datasource-health-uid-200.http").response()),
            Route("GET", "/api/search", query: ["type": "dash-db"], Self.json(200, hits)),
            Route("GET", "/api/dashboards/uid/cIBgcSjkk", Self.json(200, dashboard)),
        ]
        let (outcome, replay) = try await Self.run(routes, components: ["service_running", "datasources_healthy", "dashboards_available"])
        #expect(outcome.allUp, "\(outcome.summary)")
        #expect(outcome.fact("infraprobe_grafana_datasources", ["state": "healthy"]) == 1)
        #expect(outcome.fact("infraprobe_grafana_dashboards") == 1, "only dash-db hits count")
        #expect(replay.unmatched.isEmpty, "\(replay.unmatched)")
        let (byUID, _) = try await Self.run(routes, components: ["dashboards_available"], extra: ["dashboard_uids: [cIBgcSjkk]"])
        #expect(byUID.up("dashboards_available"), "\(byUID.summary)")
    }

    /// Grafana's errutil public error body (pkg/apimachinery/errutil): beyond the spec's ErrorResponseBody.
    static let errutilFields: Set<String> = ["message", "messageId", "statusCode", "traceID", "error", "status"]

    @Test("every FakeGrafana answer the prober reads has only fields and types the v13 OpenAPI declares (or the official test shows)",
          arguments: ["10.4.2", "11.6.0", "12.3.0", "13.0.0"])
    func test_fakeGrafana_matchesSpecShapes(version: String) async throws {
        let datasources = FakeGrafana.defaultDatasources + [
            .init(uid: "am", name: "Alertmanager", type: "alertmanager", typeName: "Alertmanager", url: "http://am:9093", plugin: .frontendOnly),
            .init(uid: "t2", name: "Tempo2", type: "tempo", typeName: "Tempo", url: "http://t:3200", plugin: .backendWithoutHealth),
            .init(uid: "ch", name: "CH", type: "ch", typeName: "CH", url: "http://ch", plugin: .missing),
        ]
        let fake = FakeGrafana(version: version, datasources: datasources)
        try fake.start()
        defer { fake.stop() }
        let auth = ["Authorization": "Bearer \(fake.token)"]
        func get(_ path: String) async throws -> (Int, JSONValue) {
            let fetched = try await HTTPFetch.getOffPool(fake.url + path, headers: auth)
            return (fetched.status, try #require(JSONValue.parse(Array(fetched.body)), "\(path) is not JSON"))
        }
        let health = try await get("/api/health")
        #expect(health.0 == 200)
        let healthSpec = try GrafanaSpec.instance("HealthResponse")
        #expect(JSONShape.notInSpec(health.1, healthSpec).isEmpty, "\(JSONShape.notInSpec(health.1, healthSpec))")
        #expect(JSONShape.differences(health.1, try Conformance.json("grafana/api-health/200-db-ok-with-version.json.txt")).isEmpty, "same fields as the official test body")
        let list = try await get("/api/datasources")
        let item = try GrafanaSpec.instance("DataSourceListItemDTO")
        for entry in list.1.array ?? [] { #expect(JSONShape.notInSpec(entry, item).isEmpty, "\(JSONShape.notInSpec(entry, item))") }
        let search = try await get("/api/search?type=dash-db&limit=100&sort=alpha-asc&permission=View")
        #expect(search.0 == 200 && search.1.array?.isEmpty == false, "unknown parameters are ignored")
        let hit = try GrafanaSpec.instance("Hit")
        for entry in search.1.array ?? [] { #expect(JSONShape.notInSpec(entry, hit).isEmpty, "\(JSONShape.notInSpec(entry, hit))") }
        let dashboard = try await get("/api/dashboards/uid/cIBgcSjkk")
        let meta = try GrafanaSpec.instance("DashboardMeta")
        #expect(JSONShape.notInSpec(dashboard.1["meta"] ?? [:], meta).isEmpty, "\(JSONShape.notInSpec(dashboard.1["meta"] ?? [:], meta))")
        // checkDatasourceHealthWithUID: 200 {status,message} as in the doc example; errors are errutil bodies.
        let docHealth = try #require(try Transcript.load("grafana/docs-examples/datasource-health-uid-200.http").response().json)
        let ok = try await get("/api/datasources/uid/prometheus-main/health")
        #expect(ok.0 == 200 && JSONShape.differences(ok.1, docHealth).isEmpty, "\(JSONShape.differences(ok.1, docHealth))")
        for uid in ["am", "t2", "ch", "unknown"] {
            let (status, body) = try await get("/api/datasources/uid/\(uid)/health")
            #expect([400, 401, 403, 404, 500, 501, 503].contains(status))
            let keys = Set((body.object ?? [:]).keys)
            #expect(keys.isSubset(of: Self.errutilFields), "\(uid): \(body)")
            #expect(body["message"]?.string != nil, "ErrorResponseBody.message is required")
        }
        let failing = FakeGrafana(version: version)
        failing.breakage.withLock { $0 = .databaseFailing }
        try failing.start()
        defer { failing.stop() }
        let down = try await HTTPFetch.getOffPool(failing.url + "/api/health")
        #expect(down.status == 503)
        let official503 = try Conformance.json("grafana/api-health/503-db-failing.json.txt")
        #expect(JSONShape.notInSpec(try #require(JSONValue.parse(Array(down.body))), try GrafanaSpec.instance("HealthResponse")).isEmpty)
        #expect(JSONValue.parse(Array(down.body))?["database"] == official503["database"])
    }
}
