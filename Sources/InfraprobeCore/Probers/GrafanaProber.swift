import FoundationEssentials
import Glibc

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
    /// The same Grafana without credentials: a signed-in request never gets the login page
    /// (LoginView redirects it to the app root), so the UI is checked as a browser first sees it.
    public let browser: HTTPEndpoint
    /// Check only these datasources (needs only `datasources:query`); else list them all (`datasources:read`).
    public let datasourceUIDs: [String]?
    /// These dashboards must resolve; else a dashboard search must find at least one.
    public let dashboardUIDs: [String]?

    static let redirects: Set<Int> = [301, 302, 303, 307, 308]

    public init(section: ConfigSection, environment: ProberEnvironment) throws {
        let url = try HTTPEndpoint.url(section, "url")
        let tls = try HTTPEndpoint.tls(section)
        endpoint = HTTPEndpoint(client: environment.http, baseURL: url, auth: try HTTPEndpoint.auth(section), tls: tls)
        browser = HTTPEndpoint(client: environment.http, baseURL: url, tls: tls)
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

    /// A request whose redirects fail with where they point: with `enforce_domain` or a sub path,
    /// Grafana redirects every API call, and the fix is the configured `url`.
    static func get(_ endpoint: HTTPEndpoint, _ path: String, expect: Set<Int> = [200], deadline: Deadline? = nil,
                    context: ComponentContext) async throws -> HTTPClientResponse {
        let response = try await endpoint.call("GET", path, expect: expect.union(redirects), deadline: deadline, context: context)
        if redirects.contains(response.status) && !expect.contains(response.status) {
            throw ProbeFailure(.httpStatus, "GET \(path) redirects (\(response.status)) to \(response.redirectURL ?? "an unnamed location"): set url to Grafana's root_url")
        }
        return response
    }

    static func json(_ endpoint: HTTPEndpoint, _ path: String, expect: Set<Int> = [200], context: ComponentContext) async throws -> (status: Int, json: JSONValue) {
        let response = try await get(endpoint, path, expect: expect, context: context)
        guard let json = JSONValue.parse(response.body) else {
            throw ProbeFailure(.unexpectedResponse, "GET \(path) answered \(response.status) with a body that is not JSON: \(HTTPEndpoint.snippet(response.body, limit: 80))")
        }
        return (response.status, json)
    }

    func serviceRunning(_ context: ComponentContext) async throws {
        let (status, health) = try await Self.json(endpoint, "/api/health", expect: [200, 503], context: context)
        guard let database = health["database"]?.string else {
            throw ProbeFailure(.unexpectedResponse, "/api/health has no database field")
        }
        if let version = health["version"]?.string { context.reportVersion(version) }
        guard status == 200, database == "ok" else {
            throw ProbeFailure(.notReady, "/api/health answered \(status) with database \"\(database)\"")
        }
    }

    /// What one datasource's health check said.
    enum HealthState: String, Sendable {
        case healthy, failing, unsupported
        /// "Plugin unavailable": a frontend-only plugin (no backend to check) or a crashed backend plugin.
        case pluginUnavailable
    }

    /// Classifies a health answer by Grafana's own error identity, not its status, because the
    /// status moved between versions (pkg/api/datasources.go checkDatasourceHealth,
    /// translatePluginRequestErrorToAPIError): no CheckHealth is 404 "Not found" (≤ 10) or 501
    /// `plugin.notImplemented`; a missing plugin 500 "Unable to find datasource plugin" (old) or
    /// 404 `plugin.notRegistered`; a plugin without backend 503 (≤ 10) or 500 `plugin.unavailable`.
    static func healthState(status: Int, body: [UInt8]) -> HealthState {
        let answer = JSONValue.parse(body)
        let messageID = answer?["messageId"]?.string ?? ""
        let message = (answer?["message"]?.string ?? "").lowercased()
        if messageID == "plugin.unavailable" || message == "plugin unavailable" { return .pluginUnavailable }
        if messageID == "plugin.notregistered" || messageID == "plugin.notRegistered" || message.contains("plugin not found")
            || message.contains("unable to find datasource plugin") { return .failing }
        if status == 200 { return answer?["status"]?.string == "OK" ? .healthy : .failing }
        if status == 501 || messageID == "plugin.notImplemented" { return .unsupported }
        if status == 404 { return .unsupported }
        return .failing
    }

    func datasourcesHealthy(_ context: ComponentContext) async throws {
        var datasources: [(uid: String, name: String)] = []
        if let datasourceUIDs {
            datasources = datasourceUIDs.map { ($0, $0) }
        } else {
            let (_, list) = try await Self.json(endpoint, "/api/datasources", context: context)
            guard let items = list.array else { throw ProbeFailure(.unexpectedResponse, "/api/datasources is not an array") }
            for item in items {
                guard let uid = item["uid"]?.string else { throw ProbeFailure(.unexpectedResponse, "a datasource has no uid") }
                datasources.append((uid, item["name"]?.string ?? uid))
            }
        }
        let endpoint = self.endpoint
        var outcomes = try await datasources.concurrentMap(maxConcurrent: Self.maxConcurrentHealthChecks) { datasource in
            // Grafana waits up to its dataproxy timeout (30 s) for a datasource: stop sooner, so
            // the component can still name the one that hangs.
            let deadline = Deadline(context.deadline.instant - max(.milliseconds(100), context.deadline.remaining / 5))
            do {
                let response = try await Self.get(endpoint, "/api/datasources/uid/\(urlEncode(datasource.uid))/health",
                                                  expect: [200, 400, 404, 500, 501, 503], deadline: deadline, context: context)
                return (uid: datasource.uid, name: datasource.name, state: Self.healthState(status: response.status, body: response.body))
            } catch let failure as ProbeFailure where failure.reason == .timeout && !context.deadline.hasPassed {
                return (uid: datasource.uid, name: datasource.name, state: HealthState.failing)
            }
        }
        if outcomes.contains(where: { $0.state == .pluginUnavailable }) {
            let frontendOnly = await frontendOnlyDatasources(context)
            outcomes = outcomes.map { outcome in
                guard outcome.state == .pluginUnavailable else { return outcome }
                return (outcome.uid, outcome.name, frontendOnly.contains(outcome.uid) ? .unsupported : .failing)
            }
        }
        for state in [HealthState.healthy, .failing, .unsupported] {
            context.fact("infraprobe_grafana_datasources", help: "Grafana datasources by health-check state.",
                         labels: ["state": state.rawValue], value: Double(outcomes.filter { $0.state == state }.count))
        }
        let failing = outcomes.filter { $0.state == .failing }.map(\.name).sorted()
        guard failing.isEmpty else {
            throw ProbeFailure(.unexpectedResponse, "datasource health failing: \(failing.joined(separator: ", "))")
        }
    }

    /// UIDs of datasources whose plugin has no backend (`meta.backend` not true in the frontend
    /// settings, which carry each datasource's plugin.json): their "Plugin unavailable" is expected.
    /// Unknown (settings unreadable) counts as not frontend-only, so a crashed plugin is not hidden.
    func frontendOnlyDatasources(_ context: ComponentContext) async -> Set<String> {
        guard let (_, settings) = try? await Self.json(endpoint, "/api/frontend/settings", context: context),
              let map = settings["datasources"]?.object else { return [] }
        return Set(map.values.compactMap { datasource in
            guard let uid = datasource["uid"]?.string, datasource["meta"]?.object != nil,
                  datasource["meta"]?["backend"]?.bool != true else { return nil }
            return uid
        })
    }

    func dashboardsAvailable(_ context: ComponentContext) async throws {
        if let dashboardUIDs {
            for uid in dashboardUIDs {
                let (status, answer) = try await Self.json(endpoint, "/api/dashboards/uid/\(urlEncode(uid))", expect: [200, 404, 406], context: context)
                // Grafana ≥ 12 keeps v2-schema dashboards out of the legacy API: 406 names the new one, so it exists.
                if status == 406, answer["message"]?.string?.hasPrefix("dashboard api version not supported") == true { continue }
                guard status == 200 else { throw ProbeFailure(.unexpectedResponse, "dashboard \(uid) not found") }
                guard answer["dashboard"]?["uid"]?.string == uid else {
                    throw ProbeFailure(.unexpectedResponse, "dashboard \(uid) answered without its own uid")
                }
            }
            context.fact("infraprobe_grafana_dashboards", help: "Dashboards checked (configured UIDs) or found by search.",
                         value: Double(dashboardUIDs.count))
            return
        }
        let (_, hits) = try await Self.json(endpoint, "/api/search?type=dash-db&limit=100", context: context)
        guard let list = hits.array else { throw ProbeFailure(.unexpectedResponse, "/api/search is not an array") }
        let dashboards = list.filter { $0["type"]?.string == "dash-db" && $0["uid"]?.string != nil }
        context.fact("infraprobe_grafana_dashboards", help: "Dashboards checked (configured UIDs) or found by search.",
                     value: Double(dashboards.count))
        guard !dashboards.isEmpty else { throw ProbeFailure(.unexpectedResponse, "dashboard search found no dashboards") }
    }

    /// `/login` without credentials: the page itself, or, with anonymous access on, a redirect to the
    /// app root, which must then serve the app.
    func uiAccessible(_ context: ComponentContext) async throws {
        var page = try await browser.call("GET", "/login", expect: Set([200]).union(Self.redirects), context: context)
        if Self.redirects.contains(page.status) {
            let target = page.redirectURL ?? ""
            guard let root = Self.appRoot(target, base: browser.baseURL) else {
                throw ProbeFailure(.httpStatus, "/login redirects (\(page.status)) to \(target.isEmpty ? "an unnamed location" : target), not to Grafana's root: set url to Grafana's root_url")
            }
            page = try await Self.get(browser, root, context: context)
        }
        guard page.contentType?.lowercased().hasPrefix("text/html") == true else {
            throw ProbeFailure(.unexpectedResponse, "/login is \(page.contentType ?? "untyped"), expected text/html")
        }
        // The title is white-label configurable; the boot data and preloader are not.
        let text = page.text
        guard text.contains("grafanaBootData") || text.contains("Grafana") else {
            throw ProbeFailure(.unexpectedResponse, "/login does not look like Grafana")
        }
    }

    /// The path of `location` when it is this Grafana's app root (same origin, path = the configured
    /// url's path + "/"), else nil.
    static func appRoot(_ location: String, base: String) -> String? {
        guard let target = URLComponents(string: location), let origin = URLComponents(string: base) else { return nil }
        let basePath = origin.path.hasSuffix("/") ? String(origin.path.dropLast()) : origin.path
        guard target.host == nil || (target.host == origin.host && target.port == origin.port && target.scheme == origin.scheme) else { return nil }
        return target.path == basePath + "/" ? "/" : nil
    }
}
