import Foundation
import InfraprobeCore

/// Grafana's HTTP API per `reference/service-apis.md` §5 and the v13 OpenAPI shapes in
/// `shared/conformance/grafana`: indented /api/health (503 + `database: failing`), 401 `api-key.invalid`,
/// datasource health 200 OK / 400 ERROR / 500 unknown uid, dashboard search and lookup, the /login HTML
/// shell — and what differs between Grafana 10 and 13 (`version`): how a plugin without a health check,
/// a frontend-only plugin and a missing plugin answer, and v2-schema dashboards (≥ 12) answering 406.
///
/// Signed-in requests (a valid service-account token or basic credentials, and every request when
/// `anonymous` is on) are redirected away from `/login` with `302 Location: /` (pkg/api/login.go LoginView).
final class FakeGrafana: FakeService, @unchecked Sendable {
    enum Break: Sendable, Equatable {
        case none
        case databaseFailing
        case oneDatasourceFailing
        case noDashboards
        /// `/login` redirects somewhere that is not the app root, even without credentials.
        case loginRedirects
        /// The datasource proxy cannot reach its upstream: 502 with an empty body.
        case proxyFails
        /// An installed backend plugin crashed: its health answers "Plugin unavailable" like a frontend-only one.
        case backendPluginCrashed
        /// The Prometheus datasource does not answer: its health check waits (Grafana's dataproxy timeout is 30 s).
        case prometheusHealthHangs
    }

    /// How a datasource's plugin is installed.
    enum Plugin: Sendable, Equatable {
        /// Backend plugin with a health check.
        case backend
        /// Backend plugin that implements no CheckHealth (e.g. Tempo before Grafana ~12.3).
        case backendWithoutHealth
        /// Frontend-only plugin (`plugin.json` without `"backend": true`, e.g. the core Alertmanager datasource).
        case frontendOnly
        /// The datasource's plugin is not installed (or failed to load).
        case missing
    }

    struct Datasource: Sendable {
        let uid: String
        let name: String
        let type: String
        let typeName: String
        let url: String
        let plugin: Plugin
    }

    let breakage = Locked(Break.none)
    let token: String
    let basicCredentials = (user: "infraprobe", password: "grafana-basic-pw")
    /// The Grafana version pretended to be (10.x … 13.x).
    let version: String
    let anonymous: Bool
    /// `[server] enforce_domain = true` with this `domain`: every request for another Host (but /api/health) gets 301.
    let enforceDomain: String?
    let datasources: Locked<[Datasource]>
    /// UIDs of dashboards stored in the v2 schema (Grafana ≥ 12: the legacy API answers 406 for them).
    let v2Dashboards = Locked<Set<String>>([])

    static let defaultDatasources = [
        Datasource(uid: "P214B5B846CF3925F", name: "Tempo", type: "tempo", typeName: "Tempo", url: "http://tempo:3200", plugin: .backend),
        Datasource(uid: "prometheus-main", name: "Prometheus", type: "prometheus", typeName: "Prometheus", url: "http://prometheus:9090", plugin: .backend),
    ]

    /// Where the Tempo datasource's proxy goes (a FakeTempo's HTTP URL, read per request).
    let tempoUpstream = Locked<(@Sendable () -> String)?>(nil)

    func proxyTempo(to url: @escaping @Sendable () -> String) {
        tempoUpstream.withLock { $0 = url }
    }

    init(token: String = "glsa_fake_token_0123456789abcdef_0a1b2c3d", version: String = "11.2.0", anonymous: Bool = false,
         enforceDomain: String? = nil, datasources: [Datasource] = FakeGrafana.defaultDatasources) {
        self.token = token
        self.version = version
        self.anonymous = anonymous
        self.enforceDomain = enforceDomain
        self.datasources = Locked(datasources)
        super.init(roles: ["http"])
    }

    var url: String { url("http") }
    var major: Int { Int(version.split(separator: ".").first ?? "") ?? 0 }

    enum Caller { case nobody, invalidToken, signedIn, anonymousViewer }

    func caller(_ request: HTTPRequest) -> Caller {
        guard let authorization = request.header("authorization") else { return anonymous ? .anonymousViewer : .nobody }
        if authorization == "Bearer \(token)" { return .signedIn }
        let basic = "Basic " + Data("\(basicCredentials.user):\(basicCredentials.password)".utf8).base64EncodedString()
        if authorization == basic { return .signedIn }
        return .invalidToken
    }

    static let invalidKey: JSONValue = ["message": "Invalid API key", "messageId": "api-key.invalid", "statusCode": 401, "traceID": ""]

    /// `/api/datasources/proxy/uid/<uid>/<path>` (pkg/api/dataproxy.go, pkg/util/proxyutil/reverse_proxy.go):
    /// unknown uid 404 `{"message":"Unable to find datasource"}`; the request goes to the datasource URL + path
    /// and its answer comes back as is; upstream unreachable → 502, upstream timeout → 504, both with empty bodies.
    override func routeAsync(role: String, request: HTTPRequest) async -> HTTPResponse {
        let prefix = "/api/datasources/proxy/uid/"
        if breakage.current == .prometheusHealthHangs && request.path == "/api/datasources/uid/prometheus-main/health" {
            try? await Task.sleep(for: .seconds(5))
        }
        guard request.path.hasPrefix(prefix) else { return route(role: role, request: request) }
        if let redirect = domainRedirect(request) { return redirect }
        switch caller(request) {
        case .nobody: return .json(401, ["message": "Unauthorized"])
        case .invalidToken: return .json(401, Self.invalidKey)
        case .signedIn, .anonymousViewer: break
        }
        let rest = request.path.dropFirst(prefix.count)
        let uid = String(rest.prefix { $0 != "/" })
        let path = String(rest.dropFirst(uid.count))
        guard let datasource = datasources.current.first(where: { $0.uid == uid }) else {
            return .json(404, ["message": "Unable to find datasource"])
        }
        guard datasource.type == "tempo", breakage.current != .proxyFails, let upstream = tempoUpstream.current else {
            return .empty(502)
        }
        let query = request.query.isEmpty ? "" : "?" + request.query.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
        let result = await HTTPClient.shared.send(HTTPClientRequest(method: request.method, url: upstream() + path + query, deadline: .after(.seconds(5))))
        switch result {
        case .response(let response):
            var answer = HTTPResponse(status: response.status, contentType: response.contentType ?? "text/plain", body: "")
            answer.body = response.body
            return answer
        case .failure(let error):
            return .empty(error.reason == .timeout ? 504 : 502)
        }
    }

    /// pkg/middleware/validate_host.go: 301 to `<root_url><RequestURI>` when Host is not `domain`.
    func domainRedirect(_ request: HTTPRequest) -> HTTPResponse? {
        guard let domain = enforceDomain, request.path != "/api/health" else { return nil }
        let host = request.header("host")?.split(separator: ":").first.map(String.init) ?? ""
        guard host != domain else { return nil }
        return HTTPResponse(status: 301, contentType: "text/html; charset=utf-8",
                            body: "<a href=\"http://\(domain):3000\(request.path)\">Moved Permanently</a>.\n\n",
                            headers: [("Location", "http://\(domain):3000\(request.path)")])
    }

    static let indexHTML = """
    <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Grafana</title><base href="/" /></head>\
    <body class="theme-dark app-grafana"><div class="preloader"><div class="preloader__text">Loading Grafana</div></div>\
    <div id="reactRoot"></div><script nonce="">window.grafanaBootData = {"user":{},"settings":{}};</script></body></html>
    """

    func html(_ status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "text/html; charset=UTF-8", body: Self.indexHTML,
                     headers: [("Cache-Control", "no-store"), ("X-Frame-Options", "deny")])
    }

    override func route(role: String, request: HTTPRequest) -> HTTPResponse {
        let broken = breakage.current
        let path = request.path
        if path == "/api/health" {
            // Health runs before the context handler: credentials are never looked at.
            let failing = broken == .databaseFailing
            let body = "{\n  \"commit\": \"087143285\",\n  \"database\": \"\(failing ? "failing" : "ok")\",\n  \"version\": \"\(version)\"\n}"
            return HTTPResponse(status: failing ? 503 : 200, contentType: "application/json; charset=UTF-8", body: body,
                                headers: [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")])
        }
        if path == "/healthz" { return .text(200, "Ok") }
        if let redirect = domainRedirect(request) { return redirect }
        let caller = caller(request)
        if path == "/login" {
            if broken == .loginRedirects { return HTTPResponse(status: 302, body: "", headers: [("Location", "/profile/password")]) }
            // LoginView: a signed-in request (also every anonymous one) goes to the app root.
            if caller == .signedIn || caller == .anonymousViewer { return HTTPResponse(status: 302, contentType: "text/html; charset=utf-8", body: "<a href=\"/\">Found</a>.\n\n", headers: [("Location", "/")]) }
            return html()
        }
        if path == "/" {
            if caller == .signedIn || caller == .anonymousViewer { return html() }
            return HTTPResponse(status: 302, contentType: "text/html; charset=utf-8", body: "<a href=\"/login\">Found</a>.\n\n", headers: [("Location", "/login")])
        }
        guard path.hasPrefix("/api/") else { return HTTPResponse(status: 302, body: "", headers: [("Location", "/login")]) }
        switch caller {
        case .nobody: return .json(401, ["message": "Unauthorized"])
        case .invalidToken: return .json(401, Self.invalidKey)
        case .signedIn, .anonymousViewer: break
        }
        switch path {
        case "/api/datasources":
            // datasources:read is granted to Admin only; the anonymous Viewer gets the RBAC 403.
            if caller == .anonymousViewer {
                return .json(403, ["accessErrorId": "ACE0000000001", "message": "You'll need additional permissions to perform this action. Permissions needed: datasources:read", "title": "Access denied"])
            }
            return .json(200, .array(datasources.current.enumerated().map { index, d in
                ["id": .number(Double(index + 1)), "uid": .string(d.uid), "orgId": 1, "name": .string(d.name), "type": .string(d.type),
                 "typeName": .string(d.typeName), "typeLogoUrl": .string("public/app/plugins/datasource/\(d.type)/img/logo.svg"),
                 "access": "proxy", "url": .string(d.url), "user": "", "database": "", "basicAuth": false,
                 "isDefault": .bool(d.type == "prometheus"), "jsonData": [:], "readOnly": false]
            }))
        case "/api/frontend/settings":
            // Each datasource's `meta` is its plugin.json (`backend` set only for backend plugins).
            var map: [String: JSONValue] = [:]
            for d in datasources.current where d.plugin != .missing {
                map[d.name] = ["uid": .string(d.uid), "type": .string(d.type), "name": .string(d.name),
                               "meta": ["id": .string(d.type), "type": "datasource", "name": .string(d.typeName),
                                        "backend": .bool(d.plugin != .frontendOnly)]]
            }
            return .json(200, ["datasources": .object(map), "buildInfo": ["version": .string(version)]])
        case "/api/search":
            // Unknown parameters (sort, permission, deleted, …) are ignored, as Grafana does.
            if broken == .noDashboards { return .json(200, []) }
            var hits: [JSONValue] = [
                ["id": 163, "uid": "000000163", "orgId": 1, "title": "Folder", "uri": "db/folder", "url": "/dashboards/f/000000163/folder",
                 "slug": "", "type": "dash-folder", "tags": [], "isStarred": false, "sortMeta": 0, "isDeleted": false],
                ["id": 1, "uid": "cIBgcSjkk", "orgId": 1, "title": "Production Overview", "uri": "db/production-overview",
                 "url": "/d/cIBgcSjkk/production-overview", "slug": "", "type": "dash-db", "tags": ["prod"], "isStarred": true,
                 "folderId": 163, "folderUid": "000000163", "folderTitle": "Folder", "folderUrl": "/dashboards/f/000000163/folder",
                 "sortMeta": 0, "isDeleted": false],
            ]
            if let type = request.query["type"] { hits = hits.filter { $0["type"]?.string == type } }
            if let uids = request.query["dashboardUIDs"] { hits = hits.filter { uids.split(separator: ",").map(String.init).contains($0["uid"]?.string ?? "") } }
            return .json(200, .array(hits))
        default:
            break
        }
        if path.hasPrefix("/api/dashboards/uid/") {
            let uid = String(path.dropFirst("/api/dashboards/uid/".count))
            guard uid == "cIBgcSjkk", broken != .noDashboards else { return .json(404, ["message": "Dashboard not found"]) }
            if major >= 12 && v2Dashboards.current.contains(uid) {
                return .json(406, ["message": .string("dashboard api version not supported, use /apis/dashboard.grafana.app/v2beta1/namespaces/default/dashboards/\(uid) instead")])
            }
            return .json(200, ["dashboard": ["uid": .string(uid), "title": "Production Overview", "panels": [], "schemaVersion": 39, "version": 3],
                               "meta": ["type": "db", "slug": "production-overview", "folderUid": "000000163", "canSave": false, "url": .string("/d/\(uid)/production-overview")]])
        }
        if path.hasPrefix("/api/datasources/uid/") && !path.hasSuffix("/health") {
            // getDataSourceByUID: the DataSource model; unknown uid 404 "Data source not found".
            let uid = String(path.dropFirst("/api/datasources/uid/".count))
            guard caller == .signedIn else { return .json(403, ["message": "Access denied"]) }
            guard let index = datasources.current.firstIndex(where: { $0.uid == uid }) else { return .json(404, ["message": "Data source not found"]) }
            let d = datasources.current[index]
            return .json(200, ["id": .number(Double(index + 1)), "uid": .string(d.uid), "orgId": 1, "name": .string(d.name), "type": .string(d.type),
                               "typeLogoUrl": "", "access": "proxy", "url": .string(d.url), "user": "", "database": "", "basicAuth": false,
                               "basicAuthUser": "", "withCredentials": false, "isDefault": .bool(d.type == "prometheus"), "jsonData": [:],
                               "secureJsonFields": [:], "version": 1, "readOnly": false])
        }
                if path.hasPrefix("/api/datasources/uid/") && path.hasSuffix("/health") {
            let uid = String(path.dropFirst("/api/datasources/uid/".count).dropLast("/health".count))
            guard let datasource = datasources.current.first(where: { $0.uid == uid }) else {
                return .json(500, ["message": "Unable to load datasource metadata", "traceID": ""])
            }
            return health(datasource, broken: broken)
        }
        return .json(404, ["message": "Not found"])
    }

    /// pkg/api/datasources.go checkDatasourceHealth + translatePluginRequestErrorToAPIError, by version.
    func health(_ datasource: Datasource, broken: Break) -> HTTPResponse {
        var plugin = datasource.plugin
        if broken == .backendPluginCrashed && plugin == .backend && datasource.type == "prometheus" { plugin = .frontendOnly }
        switch plugin {
        case .missing:
            if major >= 11 { return .json(404, ["message": "Plugin not found", "messageId": "plugin.notRegistered", "statusCode": 404, "traceID": ""]) }
            return .json(500, ["message": "Unable to find datasource plugin", "traceID": ""])
        case .frontendOnly:
            if major >= 11 { return .json(500, ["message": "Plugin unavailable", "messageId": "plugin.unavailable", "statusCode": 500, "traceID": ""]) }
            return .json(503, ["message": "Plugin unavailable", "traceID": ""])
        case .backendWithoutHealth:
            if major >= 11 { return .json(501, ["message": "Method not implemented", "messageId": "plugin.notImplemented", "statusCode": 501, "traceID": ""]) }
            return .json(404, ["message": "Not found"])
        case .backend:
            if broken == .oneDatasourceFailing && datasource.type == "tempo" {
                return .json(400, ["status": "ERROR", "message": "Unable to connect with Tempo (dial tcp: connection refused)"])
            }
            return .json(200, ["status": "OK", "message": "Data source is working"])
        }
    }
}
