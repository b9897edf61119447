import Foundation

/// Functional test of Grafana: health with its database, every datasource's own health
/// check, dashboards findable (or the configured UIDs resolving), and the login page.
/// Read-only: Grafana has nothing a probe should create.
public struct GrafanaProber: Prober {
    public static let descriptor = ProberDescriptor(
        kind: "grafana",
        componentNames: ["service_running", "datasources_healthy", "dashboards_available", "ui_accessible"],
        addressKey: "url",
        make: { section, environment in try GrafanaProber(section: section, environment: environment) })

    /// Datasource health checks run this many at a time; each one makes Grafana query a backend.
    static let maxConcurrentHealthChecks = 8

    public let endpoint: HTTPEndpoint
    /// Check only these datasources (needs only `datasources:query`); else list them all (`datasources:read`).
    public let datasourceUIDs: [String]?
    /// These dashboards must resolve; else a dashboard search must find at least one.
    public let dashboardUIDs: [String]?

    public init(section: ConfigSection, environment: ProberEnvironment) throws {
        endpoint = HTTPEndpoint(client: environment.http, baseURL: try HTTPEndpoint.url(section, "url"),
                                auth: try HTTPEndpoint.auth(section), tls: try HTTPEndpoint.tls(section))
        datasourceUIDs = try section.stringList("datasource_uids")
        dashboardUIDs = try section.stringList("dashboard_uids")
    }

    public func checks() -> [ComponentCheck] {
        [
            ComponentCheck("service_running") { try await serviceRunning($0) },
            ComponentCheck("datasources_healthy") { try await datasourcesHealthy($0) },
            ComponentCheck("dashboards_available") { try await dashboardsAvailable($0) },
            ComponentCheck("ui_accessible") { try await uiAccessible($0) },
        ]
    }

    func serviceRunning(_ context: ComponentContext) async throws {
        let (status, health) = try await endpoint.json("GET", "/api/health", expect: [200, 503], context: context)
        guard let database = health["database"]?.string else {
            throw ProbeFailure(.unexpectedResponse, "/api/health has no database field")
        }
        if let version = health["version"]?.string { context.reportVersion(version) }
        guard status == 200, database == "ok" else {
            throw ProbeFailure(.notReady, "/api/health answered \(status) with database \"\(database)\"")
        }
    }

    func datasourcesHealthy(_ context: ComponentContext) async throws {
        var datasources: [(uid: String, name: String)] = []
        if let datasourceUIDs {
            datasources = datasourceUIDs.map { ($0, $0) }
        } else {
            let (_, list) = try await endpoint.json("GET", "/api/datasources", context: context)
            guard let items = list.array else { throw ProbeFailure(.unexpectedResponse, "/api/datasources is not an array") }
            for item in items {
                guard let uid = item["uid"]?.string else { throw ProbeFailure(.unexpectedResponse, "a datasource has no uid") }
                datasources.append((uid, item["name"]?.string ?? uid))
            }
        }
        let endpoint = self.endpoint
        let outcomes = try await datasources.concurrentMap(maxConcurrent: Self.maxConcurrentHealthChecks) { datasource in
            let response = try await endpoint.call("GET", "/api/datasources/uid/\(urlEncode(datasource.uid))/health",
                                                   expect: [200, 400, 404, 500, 501, 503], context: context)
            let status = JSONValue.parse(response.body)?["status"]?.string
            switch (response.status, status) {
            case (200, "OK"): return (datasource.name, "healthy")
            case (404, _), (501, _): return (datasource.name, "unsupported")
            case (200, _): throw ProbeFailure(.unexpectedResponse, "health of \(datasource.name) answered 200 without status OK")
            default: return (datasource.name, "failing")
            }
        }
        for state in ["healthy", "failing", "unsupported"] {
            context.fact("infraprobe_grafana_datasources", help: "Grafana datasources by health-check state.",
                         labels: ["state": state], value: Double(outcomes.filter { $0.1 == state }.count))
        }
        let failing = outcomes.filter { $0.1 == "failing" }.map(\.0).sorted()
        guard failing.isEmpty else {
            throw ProbeFailure(.unexpectedResponse, "datasource health failing: \(failing.joined(separator: ", "))")
        }
    }

    func dashboardsAvailable(_ context: ComponentContext) async throws {
        if let dashboardUIDs {
            for uid in dashboardUIDs {
                let (status, answer) = try await endpoint.json("GET", "/api/dashboards/uid/\(urlEncode(uid))", expect: [200, 404], context: context)
                guard status == 200 else { throw ProbeFailure(.unexpectedResponse, "dashboard \(uid) not found") }
                guard answer["dashboard"]?["uid"]?.string == uid else {
                    throw ProbeFailure(.unexpectedResponse, "dashboard \(uid) answered without its own uid")
                }
            }
            context.fact("infraprobe_grafana_dashboards", help: "Dashboards checked (configured UIDs) or found by search.",
                         value: Double(dashboardUIDs.count))
            return
        }
        let (_, hits) = try await endpoint.json("GET", "/api/search?type=dash-db&limit=100", context: context)
        guard let list = hits.array else { throw ProbeFailure(.unexpectedResponse, "/api/search is not an array") }
        let dashboards = list.filter { $0["type"]?.string == "dash-db" && $0["uid"]?.string != nil }
        context.fact("infraprobe_grafana_dashboards", help: "Dashboards checked (configured UIDs) or found by search.",
                     value: Double(dashboards.count))
        guard !dashboards.isEmpty else { throw ProbeFailure(.unexpectedResponse, "dashboard search found no dashboards") }
    }

    func uiAccessible(_ context: ComponentContext) async throws {
        let page = try await endpoint.call("GET", "/login", context: context)
        guard page.contentType?.lowercased().hasPrefix("text/html") == true else {
            throw ProbeFailure(.unexpectedResponse, "/login is \(page.contentType ?? "untyped"), expected text/html")
        }
        guard page.text.contains("Grafana") else { throw ProbeFailure(.unexpectedResponse, "/login does not look like Grafana") }
    }
}
