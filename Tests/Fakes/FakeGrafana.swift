import Foundation
import InfraprobeCore

/// Grafana's HTTP API per `reference/service-apis.md` §5: indented /api/health (503 +
/// `database: failing`), 401 `api-key.invalid`, datasource health 200 OK / 400 ERROR /
/// 500 unknown uid, dashboard search and lookup, the /login HTML shell.
final class FakeGrafana: FakeService, @unchecked Sendable {
    enum Break: Sendable, Equatable {
        case none
        case databaseFailing
        case oneDatasourceFailing
        case noDashboards
        case loginRedirects
        /// The datasource proxy cannot reach its upstream: 502 with an empty body.
        case proxyFails
    }

    let breakage = Locked(Break.none)
    let token: String
    let datasources: [JSONValue] = [
        ["id": 1, "uid": "P214B5B846CF3925F", "orgId": 1, "name": "Tempo", "type": "tempo", "typeName": "Tempo",
         "access": "proxy", "url": "http://tempo:3200", "basicAuth": false, "isDefault": false, "jsonData": [:], "readOnly": false],
        ["id": 2, "uid": "prometheus-main", "orgId": 1, "name": "Prometheus", "type": "prometheus", "typeName": "Prometheus",
         "access": "proxy", "url": "http://prometheus:9090", "basicAuth": false, "isDefault": true, "jsonData": [:], "readOnly": false],
    ]

    /// Where the Tempo datasource's proxy goes (a FakeTempo's HTTP URL, read per request).
    let tempoUpstream = Locked<(@Sendable () -> String)?>(nil)

    func proxyTempo(to url: @escaping @Sendable () -> String) {
        tempoUpstream.withLock { $0 = url }
    }

    init(token: String = "glsa_fake_token_0123456789abcdef_0a1b2c3d") {
        self.token = token
        super.init(roles: ["http"])
    }

    var url: String { url("http") }

    /// `/api/datasources/proxy/uid/<uid>/<path>` (pkg/api/dataproxy.go, pkg/util/proxyutil/reverse_proxy.go):
    /// unknown uid 404 `{"message":"Unable to find datasource"}`; the request goes to the datasource URL + path
    /// and its answer comes back as is; upstream unreachable → 502, upstream timeout → 504, both with empty bodies.
    override func routeAsync(role: String, request: HTTPRequest) async -> HTTPResponse {
        let prefix = "/api/datasources/proxy/uid/"
        guard request.path.hasPrefix(prefix) else { return route(role: role, request: request) }
        guard let authorization = request.header("authorization") else { return .json(401, ["message": "Unauthorized"]) }
        guard authorization == "Bearer \(token)" else {
            return .json(401, ["message": "Invalid API key", "messageId": "api-key.invalid", "statusCode": 401, "traceID": ""])
        }
        let rest = request.path.dropFirst(prefix.count)
        let uid = String(rest.prefix { $0 != "/" })
        let path = String(rest.dropFirst(uid.count))
        guard let datasource = datasources.first(where: { $0["uid"]?.string == uid }) else {
            return .json(404, ["message": "Unable to find datasource"])
        }
        guard datasource["type"]?.string == "tempo", breakage.current != .proxyFails, let upstream = tempoUpstream.current else {
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

    override func route(role: String, request: HTTPRequest) -> HTTPResponse {
        let broken = breakage.current
        let path = request.path
        if path == "/api/health" {
            let failing = broken == .databaseFailing
            let body = "{\n  \"commit\": \"087143285\",\n  \"database\": \"\(failing ? "failing" : "ok")\",\n  \"version\": \"11.2.0\"\n}"
            return HTTPResponse(status: failing ? 503 : 200, contentType: "application/json; charset=UTF-8", body: body)
        }
        if path == "/healthz" { return .text(200, "Ok") }
        if path == "/login" {
            if broken == .loginRedirects { return HTTPResponse(status: 302, body: "", headers: [("Location", "/")]) }
            return HTTPResponse(status: 200, contentType: "text/html; charset=UTF-8",
                                body: "<!DOCTYPE html><html lang=\"en\"><head><title>Grafana</title></head><body><div id=\"reactRoot\"></div></body></html>")
        }
        guard path.hasPrefix("/api/") else { return HTTPResponse(status: 302, body: "", headers: [("Location", "/login")]) }
        guard let authorization = request.header("authorization") else {
            return .json(401, ["message": "Unauthorized"])
        }
        guard authorization == "Bearer \(token)" else {
            return .json(401, ["message": "Invalid API key", "messageId": "api-key.invalid", "statusCode": 401, "traceID": ""])
        }
        switch path {
        case "/api/datasources":
            return .json(200, .array(datasources))
        case "/api/search":
            if broken == .noDashboards { return .json(200, []) }
            return .json(200, [
                ["id": 163, "uid": "000000163", "orgId": 1, "title": "Folder", "uri": "db/folder", "url": "/dashboards/f/000000163/folder",
                 "type": "dash-folder", "tags": [], "isStarred": false, "sortMeta": 0],
                ["id": 1, "uid": "cIBgcSjkk", "orgId": 1, "title": "Production Overview", "uri": "db/production-overview",
                 "url": "/d/cIBgcSjkk/production-overview", "type": "dash-db", "tags": ["prod"], "isStarred": true,
                 "folderId": 163, "folderUid": "000000163", "sortMeta": 0],
            ])
        default:
            break
        }
        if path.hasPrefix("/api/dashboards/uid/") {
            let uid = String(path.dropFirst("/api/dashboards/uid/".count))
            guard uid == "cIBgcSjkk", broken != .noDashboards else { return .json(404, ["message": "Dashboard not found"]) }
            return .json(200, ["dashboard": ["uid": .string(uid), "title": "Production Overview", "panels": []],
                               "meta": ["type": "db", "slug": "production-overview", "folderUid": "000000163"]])
        }
        if path.hasPrefix("/api/datasources/uid/") && path.hasSuffix("/health") {
            let uid = String(path.dropFirst("/api/datasources/uid/".count).dropLast("/health".count))
            guard let datasource = datasources.first(where: { $0["uid"]?.string == uid }) else {
                return .json(500, ["message": "Unable to load datasource metadata", "traceID": ""])
            }
            if broken == .oneDatasourceFailing && datasource["type"]?.string == "tempo" {
                return .json(400, ["status": "ERROR", "message": "Unable to connect with Tempo (dial tcp: connection refused)"])
            }
            return .json(200, ["status": "OK", "message": "Data source is working"])
        }
        return .json(404, ["message": "Not found"])
    }
}
