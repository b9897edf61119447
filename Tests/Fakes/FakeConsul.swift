import Foundation
import InfraprobeCore

/// A Consul agent (a server of a three-server cluster) as `reference/service-apis.md` §1, the
/// documented responses in `shared/conformance/consul` and `reference/fidelity-consul-otel.md`
/// describe it: plain-text errors, empty 200 bodies on agent writes, base64 KV values,
/// 404-with-empty-body for missing keys, autopilot 200/429, ACL token checks with the 403
/// `Permission denied` text, `X-Consul-Index` on reads and blocking queries (`?index=&wait=`)
/// as Prometheus' consul_sd and the official clients use them.
///
/// Like hashicorp/consul, it keeps the agent's local state apart from the catalog: a check
/// update that only changes the output is agent-local until the agent's deferred sync
/// (agent/local/state.go: after check_update_interval/2 … ×1.5), a status change reaches the
/// catalog at once, and an identical write changes nothing. Each read reports and blocks on
/// its own table's raft index (services, checks, kvs, or one service name's), as the state
/// store's indexes do, so a write wakes only the blocking queries whose answer it changes.
final class FakeConsul: FakeService, @unchecked Sendable {
    enum Break: Sendable, Equatable {
        case none
        /// Leader lost: leader `""`, peers unchanged, everything that needs the leader
        /// (autopilot, KV, catalog, health) 500 `No cluster leader`; agent-local calls still work.
        case noLeader
        /// A server waiting for `bootstrap_expect`: no leader, peers `null`.
        case notBootstrapped
        /// A client agent that has not joined any server: every server RPC (leader, peers
        /// included) is 500 `No known Consul servers`; agent-local calls work.
        case clientWithoutServers
        case autopilotUnhealthy
        /// Right after an election: autopilot has no state and answers a zero report with 429.
        case autopilotNoState
        /// The agent's RPC rate limit: 429 with a text body.
        case rateLimited
        /// KV PUT is accepted, but reads return another value.
        case kvReadsOtherValue
        /// Registration is accepted locally but never reaches the catalog.
        case catalogNeverShowsService
        /// check/pass and check/update answer 200 but the agent's check does not change.
        case ttlPassIgnored
        /// The agent's deferred output sync never reaches the servers (anti-entropy broken).
        case outputNeverSynced
        /// `ui_config.enabled = false`: `/ui/` falls through to the index handler's 404.
        case uiDisabled
        /// The token lacks node:read: catalog and health lists come back empty (200, not 403),
        /// marked `X-Consul-Results-Filtered-By-Acls: true` for an authenticated request.
        case tokenLacksNodeRead
    }

    struct KVEntry: Equatable {
        var value: [UInt8]
        var flags: UInt64 = 0
        var createIndex = 0
        var modifyIndex = 0
    }

    struct State: Equatable {
        var kv: [String: KVEntry] = [:]
        var services: [String: JSONValue] = [:]
        /// Checks as the catalog has them (agent endpoints overlay `agentOutput`).
        var checks: [String: JSONValue] = [:]
        /// Outputs the agent holds but has not synced yet, and when its deferred sync runs.
        var agentOutput: [String: String] = [:]
        var syncDue: [String: ContinuousClock.Instant] = [:]
        /// The raft index: bumped by every write that changes something (never 0).
        var index = 10
        /// Per-table indexes (`services`, `checks`, `kvs`, `service.<name>`): what a read reports and blocks on.
        var tableIndex: [String: Int] = [:]
        /// Every check that was ever critical, on the agent or in the catalog.
        var everCritical: Set<String> = []
        /// Raft writes per table.
        var writes: [String: Int] = [:]

        /// One raft write touching these tables.
        mutating func bump(_ tables: [String]) {
            index += 1
            for table in tables {
                tableIndex[table] = index
                writes[table, default: 0] += 1
            }
        }

        func index(of table: String) -> Int { tableIndex[table] ?? 1 }
    }

    static let nodeName = "consul-server-1"
    static let noLeader = "No cluster leader"

    let state = Locked(State())
    let breakage = Locked(Break.none)
    /// The Content-Type of every KV write (≥ 1.20 agents expect application/octet-stream and log others).
    let kvContentTypes = Locked<[String]>([])
    /// When set, every ACL-protected endpoint requires this token.
    let token: String?
    let version: FakeVersion
    /// Longest a blocking query waits here (the real default is 5 min): keeps `stop()` prompt.
    let maxBlock: Duration

    /// The agent's check_update_interval (real default 5m): how long output-only updates stay agent-local.
    let checkUpdateInterval: Duration

    init(token: String? = nil, version: FakeVersion = "1.21.4", maxBlock: Duration = .seconds(1), checkUpdateInterval: Duration = .seconds(300)) {
        self.token = token
        self.version = version
        self.maxBlock = maxBlock
        self.checkUpdateInterval = checkUpdateInterval
        super.init(roles: ["http"])
        // Pre-existing, unrelated checks the cluster-wide counts must see.
        state.withLock {
            $0.checks["serfHealth"] = Self.check(id: "serfHealth", name: "Serf Health Status", status: "passing", serviceID: "", serviceName: "",
                                                 tags: [], type: "", output: "Agent alive and reachable")
            $0.checks["service:web"] = Self.check(id: "service:web", name: "Service 'web' check", status: "critical", serviceID: "web",
                                                  serviceName: "web", tags: ["rails"], type: "http",
                                                  output: "Get \"http://localhost/health\": dial tcp [::1]:80: connect: connection refused")
            $0.everCritical = []
        }
    }

    var url: String { url("http") }

    /// The `/ui/` index: like the real one, the title in the head and a large inline SVG sprite
    /// after it (the real page is ~0.8 MB, served uncompressed).
    static let uiPage: String = {
        let head = "<!DOCTYPE html>\n<html lang=\"en\" class=\"ember-loading\">\n<head>\n<meta charset=\"utf-8\">\n"
            + "<title>Consul by HashiCorp</title>\n<meta name=\"consul-ui/config/environment\" content=\"%7B%22modulePrefix%22%3A%22consul-ui%22%7D\">\n</head>\n<body>\n"
        let sprite = "<svg xmlns=\"http://www.w3.org/2000/svg\" style=\"display:none\">"
            + String(repeating: "<symbol id=\"icon\" viewBox=\"0 0 16 16\"><path d=\"M8 0a8 8 0 100 16A8 8 0 008 0z\"/></symbol>\n", count: 9000)
            + "</svg>\n"
        return head + sprite + "<script src=\"/ui/assets/vendor.js\"></script>\n</body>\n</html>\n"
    }()

    static func check(id: String, name: String, status: String, serviceID: String, serviceName: String, tags: [String],
                      type: String, output: String = "") -> JSONValue {
        ["Node": .string(nodeName), "CheckID": .string(id), "Name": .string(name), "Status": .string(status), "Notes": "",
         "Output": .string(output), "ServiceID": .string(serviceID), "ServiceName": .string(serviceName),
         "ServiceTags": .array(tags.map { .string($0) }), "Type": .string(type), "Interval": "", "Timeout": "", "ExposedPort": 0,
         "Definition": [:], "CreateIndex": 10, "ModifyIndex": 10]
    }

    private func denied(_ permission: String) -> HTTPResponse {
        .text(403, "Permission denied: token with AccessorID 'a1b2' lacks permission '\(permission)' on \"infraprobe\"")
    }

    private func authorized(_ request: HTTPRequest) -> Bool {
        guard let token else { return true }
        let sent = request.header("x-consul-token") ?? request.header("authorization").map { String($0.dropFirst("Bearer ".count)) }
            ?? request.query["token"]
        return sent == token
    }

    private var leaderless: Bool { [.noLeader, .notBootstrapped].contains(breakage.current) }

    /// Reads that are served from the raft store: they carry the index and block on `?index=`.
    private func isBlockingRead(_ request: HTTPRequest) -> Bool {
        request.method == "GET" && ["/v1/catalog/", "/v1/health/", "/v1/kv/"].contains { request.path.hasPrefix($0) }
    }

    override func routeAsync(role: String, request: HTTPRequest) async -> HTTPResponse {
        guard isBlockingRead(request), !leaderless, let wanted = request.query["index"].flatMap(Int.init), wanted > 0 else {
            return route(role: role, request: request)
        }
        // A blocking query: answer when the index moves past the client's, or when the wait ends.
        let wait = request.query["wait"].flatMap(DurationParser.parse).map { min($0, maxBlock) } ?? maxBlock
        let until = ContinuousClock.now + wait
        while endpointIndex(request) <= wanted && ContinuousClock.now < until {
            try? await Task.sleep(for: .milliseconds(20))
            syncDeferredOutputs()
        }
        return route(role: role, request: request)
    }

    /// The index a read reports and blocks on: its table's, as the state store computes it.
    func endpointIndex(_ request: HTTPRequest) -> Int {
        let path = request.path, current = state.current
        if path == "/v1/catalog/services" { return current.index(of: "services") }
        for prefix in ["/v1/catalog/service/", "/v1/health/service/"] where path.hasPrefix(prefix) {
            let name = String(path.dropFirst(prefix.count))
            // A service that is gone answers with the services table's index (extinction).
            return current.tableIndex["service.\(name)"] ?? current.index(of: "services")
        }
        if path.hasPrefix("/v1/health/") { return current.index(of: "checks") }
        if path.hasPrefix("/v1/kv/") { return current.index(of: "kvs") }
        return current.index
    }

    override func route(role: String, request: HTTPRequest) -> HTTPResponse {
        syncDeferredOutputs()
        var response = answer(request)
        if request.path.hasPrefix("/v1/") {
            response.headers.append(("X-Consul-Default-Acl-Policy", token == nil ? "allow" : "deny"))
            if isBlockingRead(request) && response.status != 500 {
                response.headers += [("X-Consul-Index", String(max(1, endpointIndex(request)))), ("X-Consul-Knownleader", "true"),
                                     ("X-Consul-Lastcontact", "0")]
            }
        }
        return response
    }

    private func answer(_ request: HTTPRequest) -> HTTPResponse {
        let path = request.path
        let broken = breakage.current
        let method = request.method
        if broken == .clientWithoutServers && (path.hasPrefix("/v1/status/") || path.hasPrefix("/v1/operator/") || path.hasPrefix("/v1/kv/")
                                                || path.hasPrefix("/v1/catalog/") || path.hasPrefix("/v1/health/")) {
            return .text(500, "No known Consul servers")
        }
        // Read-only status endpoints need no ACL.
        if path == "/v1/status/leader" {
            return .json(200, leaderless ? "" : "127.0.0.1:8300")
        }
        if path == "/v1/status/peers" {
            return .json(200, broken == .notBootstrapped ? .null : ["127.0.0.1:8300", "127.0.0.2:8300", "127.0.0.3:8300"])
        }
        if path == "/ui/" && broken != .uiDisabled { return uiIndex(request) }
        if path == "/" {
            if broken == .uiDisabled {
                return HTTPResponse(status: 200, body: "Consul Agent: UI disabled. To enable, set ui_config.enabled=true in the agent configuration and restart.")
            }
            return HTTPResponse(status: 301, body: "", headers: [("Location", "/ui/")])
        }
        guard path.hasPrefix("/v1/") else {
            return .text(404, "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'")
        }
        // Listing datacenters needs no ACL either.
        if path == "/v1/catalog/datacenters" { return .json(200, ["dc1"]) }
        guard authorized(request) else { return token.map { _ in denied("operator:read") } ?? .text(403, "ACL not found") }
        if broken == .rateLimited && path != "/v1/agent/self" { return .text(429, "rate limit exceeded, try again later or against a different server") }

        // Agent-local endpoints answer without a leader.
        switch (method, path) {
        case ("GET", "/v1/agent/self"):
            return .json(200, ["Config": ["Datacenter": "dc1", "PrimaryDatacenter": "dc1", "NodeName": .string(Self.nodeName),
                                          "NodeID": "9d754d17-d864-b1d3-e758-f3fe25a9874f", "Server": true, "Revision": "deadbeef",
                                          "Version": .string(version.description), "BuildDate": "2025-01-01T00:00:00Z"],
                               "Member": ["Name": .string(Self.nodeName), "Addr": "127.0.0.1", "Port": 8301,
                                          "Tags": ["dc": "dc1", "role": "consul"], "Status": 1],
                               "Meta": [:]])
        case ("PUT", "/v1/agent/service/register"):
            return register(request)
        case ("PUT", "/v1/agent/check/register"):
            return registerCheck(request)
        case ("GET", "/v1/agent/services"):
            return filteredMap(request, state.current.services)
        case ("GET", _) where path.hasPrefix("/v1/agent/service/"):
            let id = String(path.dropFirst("/v1/agent/service/".count))
            guard var service = state.current.services[id]?.object else { return .text(404, "unknown service ID: \(id)") }
            service["ContentHash"] = "4ecd29c7bc647ca8"
            return .json(200, .object(service), headers: [("X-Consul-Contenthash", "4ecd29c7bc647ca8")])
        case ("PUT", _) where path.hasPrefix("/v1/agent/service/deregister/"):
            let id = String(path.dropFirst("/v1/agent/service/deregister/".count))
            let removed = state.withLock { state -> Bool in
                guard let service = state.services.removeValue(forKey: id) else { return false }
                let gone = state.checks.filter { $0.value["ServiceID"]?.string == id }.keys
                for check in gone { state.checks[check] = nil; state.agentOutput[check] = nil; state.syncDue[check] = nil }
                state.bump(["services", "checks", "service.\(service["Service"]?.string ?? "")"])
                return true
            }
            return removed ? .empty(200)
                : .text(404, "Unknown service ID \"\(id)\". Ensure that the service ID is passed, not the service name.")
        case ("PUT", _) where path.hasPrefix("/v1/agent/check/deregister/"):
            let id = String(path.dropFirst("/v1/agent/check/deregister/".count))
            let removed = state.withLock { state -> Bool in
                guard let check = state.checks.removeValue(forKey: id) else { return false }
                state.agentOutput[id] = nil
                state.syncDue[id] = nil
                state.bump(["checks", "service.\(check["ServiceName"]?.string ?? "")"])
                return true
            }
            return removed ? .empty(200) : .text(404, "Unknown check ID \"\(id)\". Ensure that the check ID is passed, not the check name.")
        case ("PUT", _) where ["pass", "warn", "fail", "update"].contains(where: { path.hasPrefix("/v1/agent/check/\($0)/") }):
            return updateTTL(request)
        case ("GET", "/v1/agent/checks"):
            return filteredMap(request, agentChecks())
        case ("GET", _) where path.hasPrefix("/v1/agent/health/service/id/"):
            return agentHealth(id: String(path.dropFirst("/v1/agent/health/service/id/".count)), request: request)
        case ("GET", _) where path.hasPrefix("/v1/agent/health/service/name/"):
            return agentHealth(name: String(path.dropFirst("/v1/agent/health/service/name/".count)), request: request)
        default:
            break
        }

        if method != "GET" && method != "PUT" && method != "DELETE" {
            return HTTPResponse(status: 405, body: "method \(method) not allowed", headers: [("Allow", "OPTIONS,GET,PUT,DELETE")])
        }
        // Everything below is served by the leader.
        if leaderless { return .text(500, Self.noLeader) }
        switch (method, path) {
        case ("GET", "/v1/operator/autopilot/health"):
            if broken == .autopilotNoState { return .json(429, ["Healthy": false, "FailureTolerance": 0, "Servers": .null]) }
            let healthy = broken != .autopilotUnhealthy
            return .json(healthy ? 200 : 429, [
                "Healthy": .bool(healthy), "FailureTolerance": healthy ? 1 : 0,
                "Servers": .array((1...3).map { n -> JSONValue in
                    let ok = healthy || n != 2
                    return ["ID": .string("e349749b-3303-3ddf-959c-b5885a0e1f6\(n)"), "Name": .string("consul-server-\(n)"),
                            "Address": .string("127.0.0.\(n):8300"), "SerfStatus": ok ? "alive" : "failed", "Version": .string(version.description),
                            "Leader": .bool(n == 1), "LastContact": n == 1 ? "0s" : "27.291304ms", "LastTerm": 2, "LastIndex": 46,
                            "Healthy": .bool(ok), "Voter": true, "StableSince": "2026-11-26T04:12:31Z"]
                }),
            ])
        case (_, _) where path.hasPrefix("/v1/kv/"):
            return kv(method: method, key: String(path.dropFirst("/v1/kv/".count)), request: request)
        case ("GET", "/v1/catalog/services"):
            var names: [String: JSONValue] = ["consul": []]
            for service in visibleServices() { names[service["Service"]?.string ?? ""] = service["Tags"] ?? [] }
            return .json(200, .object(names))
        case ("GET", _) where broken == .tokenLacksNodeRead && (path.hasPrefix("/v1/catalog/service/") || path.hasPrefix("/v1/health/service/")):
            let authenticated = request.header("x-consul-token") != nil || request.header("authorization") != nil
            return .json(200, [], headers: authenticated ? [("X-Consul-Results-Filtered-By-Acls", "true")] : [])
        case ("GET", _) where path.hasPrefix("/v1/catalog/service/"):
            let name = String(path.dropFirst("/v1/catalog/service/".count))
            let matching = visibleServices().filter { $0["Service"]?.string == name }.map { service -> JSONValue in
                ["ID": "40e4a748-2192-161a-0510-9bf59fe950b5", "Node": .string(Self.nodeName), "Address": "127.0.0.1", "Datacenter": "dc1",
                 "TaggedAddresses": ["lan": "127.0.0.1", "wan": "127.0.0.1"], "NodeMeta": [:], "CreateIndex": 51, "ModifyIndex": 51,
                 "ServiceAddress": service["Address"] ?? "", "ServiceEnableTagOverride": false, "ServiceID": service["ID"] ?? "",
                 "ServiceName": .string(name), "ServicePort": service["Port"] ?? 0, "ServiceMeta": service["Meta"] ?? [:],
                 "ServiceTaggedAddresses": service["TaggedAddresses"] ?? [:], "ServiceTags": service["Tags"] ?? [],
                 "ServiceProxy": ["DestinationServiceName": "", "DestinationServiceID": "", "LocalServiceAddress": "", "LocalServicePort": 0,
                                  "Config": .null, "Upstreams": .null],
                 "ServiceConnect": ["Native": false, "Proxy": .null]]
            }
            return filteredList(request, matching)
        case ("GET", _) where broken == .tokenLacksNodeRead && path.hasPrefix("/v1/health/checks/"):
            let authenticated = request.header("x-consul-token") != nil || request.header("authorization") != nil
            return .json(200, [], headers: authenticated ? [("X-Consul-Results-Filtered-By-Acls", "true")] : [])
        case ("GET", _) where path.hasPrefix("/v1/health/checks/"):
            let name = String(path.dropFirst("/v1/health/checks/".count))
            let checks = state.current.checks.values.filter { $0["ServiceName"]?.string == name }
                .sorted { ($0["CheckID"]?.string ?? "") < ($1["CheckID"]?.string ?? "") }.map(Self.catalogCheck)
            return filteredList(request, checks)
        case ("GET", _) where path.hasPrefix("/v1/health/service/"):
            return healthService(String(path.dropFirst("/v1/health/service/".count)), request: request)
        case ("GET", _) where path.hasPrefix("/v1/health/state/"):
            let wanted = String(path.dropFirst("/v1/health/state/".count))
            guard ["passing", "warning", "critical", "any"].contains(wanted) else { return .text(400, "Missing check state") }
            let checks = state.current.checks.values.filter { wanted == "any" || $0["Status"]?.string == wanted }
                .sorted { ($0["CheckID"]?.string ?? "") < ($1["CheckID"]?.string ?? "") }
                .map(Self.catalogCheck)
            return filteredList(request, checks)
        default:
            return .text(404, "Invalid URL path: not a recognized HTTP API endpoint")
        }
    }

    /// The agent's aggregated health: worst check status wins; 200 passing, 429 warning, 503 critical.
    static func aggregate(_ checks: [JSONValue]) -> (String, Int) {
        let states = checks.compactMap { $0["Status"]?.string }
        if states.contains("critical") || states.contains("maintenance") { return ("critical", 503) }
        if states.contains("warning") { return ("warning", 429) }
        return ("passing", 200)
    }

    /// An agent health entry: unlike catalog bodies, `TaggedAddresses` use `Address`/`Port` here.
    private func agentHealthEntry(_ service: JSONValue, _ current: State) -> (JSONValue, String, Int) {
        let id = service["ID"]?.string ?? ""
        let checks = current.checks.values.filter { $0["ServiceID"]?.string == id }.sorted { ($0["CheckID"]?.string ?? "") < ($1["CheckID"]?.string ?? "") }
        let (status, code) = Self.aggregate(checks)
        var body = service.object ?? [:]
        body["TaggedAddresses"] = .object((service["TaggedAddresses"]?.object ?? [:]).mapValues {
            ["Address": $0["address"] ?? "", "Port": $0["port"] ?? 0]
        })
        body["SocketPath"] = ""
        return (["AggregatedStatus": .string(status), "Service": .object(body),
                 "Checks": .array(checks.map { check -> JSONValue in
                     guard var object = check.object else { return check }
                     object["Interval"] = nil
                     object["Timeout"] = nil
                     object["ExposedPort"] = nil
                     object["Definition"] = ["Interval": "0s", "Timeout": "0s", "DeregisterCriticalServiceAfter": "0s", "HTTP": "",
                                             "Header": .null, "Method": "", "Body": "", "TLSServerName": "", "TLSSkipVerify": false, "TCP": ""]
                     return .object(object)
                 })], status, code)
    }

    /// `/v1/agent/health/service/id/<id>` (one object) and `/name/<name>` (an array); `?format=text` is the bare status.
    private func agentHealth(id: String? = nil, name: String? = nil, request: HTTPRequest) -> HTTPResponse {
        let current = state.current
        let matching = current.services.values.filter { id != nil ? $0["ID"]?.string == id : $0["Service"]?.string == name }
            .sorted { ($0["ID"]?.string ?? "") < ($1["ID"]?.string ?? "") }
        guard !matching.isEmpty else {
            return .text(404, id.map { "ServiceId \($0) not found" } ?? "ServiceName \(name ?? "") Not Found")
        }
        let entries = matching.map { agentHealthEntry($0, current) }
        let code = entries.map(\.2).max() ?? 200
        let status = entries.first { $0.2 == code }?.1 ?? "passing"
        if request.query["format"] == "text" { return HTTPResponse(status: code, body: status) }
        return .json(code, id != nil ? entries[0].0 : .array(entries.map(\.0)))
    }

    private func visibleServices() -> [JSONValue] {
        breakage.current == .catalogNeverShowsService ? [] : state.current.services.values.sorted { ($0["ID"]?.string ?? "") < ($1["ID"]?.string ?? "") }
    }

    /// A service's `lan`/`wan` addresses, lower-case keys as catalog and agent/service bodies have them.
    static func taggedAddresses(_ address: String, _ port: Double) -> JSONValue {
        guard !address.isEmpty else { return [:] }
        let entry: JSONValue = ["address": .string(address), "port": .number(port)]
        return ["lan": entry, "wan": entry]
    }

    /// A check as the catalog (health endpoints) returns it: no agent-only fields.
    static func catalogCheck(_ check: JSONValue) -> JSONValue {
        guard var object = check.object else { return check }
        for key in ["Interval", "Timeout", "ExposedPort"] { object[key] = nil }
        return .object(object)
    }

    private func uiIndex(_ request: HTTPRequest) -> HTTPResponse {
        let page = Array(Self.uiPage.utf8)
        var response = HTTPResponse(status: 200, contentType: "text/html; charset=utf-8", body: "", headers: [("Accept-Ranges", "bytes")])
        // http.ServeContent honours a single byte range.
        if let range = request.header("range"), range.hasPrefix("bytes="),
           let dash = range.firstIndex(of: "-"), let first = Int(range[range.index(range.startIndex, offsetBy: 6)..<dash]),
           let last = Int(range[range.index(after: dash)...]), first <= last, first < page.count {
            let end = min(last, page.count - 1)
            response.status = 206
            response.headers.append(("Content-Range", "bytes \(first)-\(end)/\(page.count)"))
            response.body = Array(page[first...end])
            return response
        }
        response.body = page
        return response
    }

    /// A field of a request body as Go decodes it: `encoding/json` matches keys case-insensitively,
    /// and Consul also translates snake_case (`deregister_critical_service_after`), as py-consul sends them.
    static func field(_ value: JSONValue?, _ name: String) -> JSONValue? {
        guard let object = value?.object else { return nil }
        if let exact = object[name] { return exact }
        let wanted = name.lowercased()
        return object.first { $0.key.lowercased().replacingOccurrences(of: "_", with: "") == wanted }?.value
    }

    static func checkType(_ check: JSONValue) -> String {
        field(check, "TTL") != nil ? "ttl" : field(check, "HTTP") != nil ? "http" : field(check, "TCP") != nil ? "tcp" : ""
    }

    private func register(_ request: HTTPRequest) -> HTTPResponse {
        let body = request.json
        guard let name = Self.field(body, "Name")?.string else { return .text(400, "Missing service name") }
        let id = Self.field(body, "ID")?.string ?? name
        var checks = Self.field(body, "Checks")?.array ?? []
        if let check = Self.field(body, "Check") { checks.append(check) }
        for check in checks {
            for key in ["TTL", "DeregisterCriticalServiceAfter", "Interval", "Timeout"] {
                if let text = Self.field(check, key)?.string, DurationParser.parse(text) == nil {
                    return .text(400, "Request decode failed: time: invalid duration \"\(text)\"")
                }
            }
        }
        let tags = Self.field(body, "Tags") ?? []
        let address = Self.field(body, "Address")?.string ?? ""
        let port = Self.field(body, "Port") ?? 0
        for check in checks {
            if let status = Self.field(check, "Status")?.string, !Self.statuses.contains(status) {
                return .text(400, "Invalid check: Status must be one of \"passing\", \"warning\", or \"critical\"; got \"\(status)\"")
            }
        }
        state.withLock { state in
            let service: JSONValue = ["ID": .string(id), "Service": .string(name), "Tags": tags, "Meta": Self.field(body, "Meta") ?? [:],
                                      "Port": port, "Address": .string(address),
                                      "TaggedAddresses": Self.taggedAddresses(address, port.double ?? 0),
                                      "Weights": ["Passing": 1, "Warning": 1], "EnableTagOverride": false, "Datacenter": "dc1"]
            var changed = state.services[id] != service
            state.services[id] = service
            for (n, check) in checks.enumerated() {
                let checkID = Self.field(check, "CheckID")?.string ?? Self.field(check, "ID")?.string
                    ?? "service:\(id)" + (checks.count > 1 ? ":\(n + 1)" : "")
                var entry = Self.check(id: checkID, name: Self.field(check, "Name")?.string ?? "Service '\(name)' check",
                                       status: Self.field(check, "Status")?.string ?? "critical", serviceID: id, serviceName: name,
                                       tags: (tags.array ?? []).compactMap(\.string), type: Self.checkType(check))
                if let notes = Self.field(check, "Notes")?.string, var object = entry.object {
                    object["Notes"] = .string(notes)
                    entry = .object(object)
                }
                // An identical re-registration is no catalog write (ensureCheckTxn's IsSame).
                if Self.sameIgnoringIndexes(state.checks[checkID], entry) { continue }
                state.checks[checkID] = entry
                state.agentOutput[checkID] = nil
                state.syncDue[checkID] = nil
                if entry["Status"]?.string == "critical" { state.everCritical.insert(checkID) }
                changed = true
            }
            if changed { state.bump(["services", "checks", "service.\(name)"]) }
        }
        return .empty(200)
    }

    private func registerCheck(_ request: HTTPRequest) -> HTTPResponse {
        let body = request.json
        guard let name = Self.field(body, "Name")?.string else { return .text(400, "Missing check name") }
        let id = Self.field(body, "ID")?.string ?? Self.field(body, "CheckID")?.string ?? name
        let serviceID = Self.field(body, "ServiceID")?.string ?? ""
        return state.withLock { state -> HTTPResponse in
            if !serviceID.isEmpty && state.services[serviceID] == nil { return .text(404, "ServiceID \"\(serviceID)\" does not exist") }
            let service = state.services[serviceID]
            let check = Self.check(id: id, name: name, status: Self.field(body, "Status")?.string ?? "critical", serviceID: serviceID,
                                   serviceName: service?["Service"]?.string ?? "", tags: (service?["Tags"]?.array ?? []).compactMap(\.string),
                                   type: Self.checkType(body ?? [:]))
            state.checks[id] = check
            if check["Status"]?.string == "critical" { state.everCritical.insert(id) }
            state.bump(["checks", "service.\(service?["Service"]?.string ?? "")"])
            return .empty(200)
        }
    }

    static let statuses: Set<String> = ["passing", "warning", "critical"]

    /// `/v1/agent/check/{pass,warn,fail}/<id>?note=` and `/v1/agent/check/update/<id>` with
    /// `{"Status","Output"}`: the agent's UpdateCheck. A status change syncs to the catalog at
    /// once; an output-only change waits for the deferred sync.
    private func updateTTL(_ request: HTTPRequest) -> HTTPResponse {
        let parts = request.path.split(separator: "/").map(String.init)   // v1 agent check <verb> <id>
        guard parts.count >= 5 else { return .text(400, "Missing check ID") }
        let verb = parts[3], id = parts[4...].joined(separator: "/")
        let status: String, output: String
        if verb == "update" {
            guard let body = request.json, body.object != nil else { return .text(400, "Request decode failed: invalid character") }
            status = Self.field(body, "Status")?.string ?? ""
            guard Self.statuses.contains(status) else { return .text(400, "Invalid check status: \"\(status)\"") }
            output = String((Self.field(body, "Output")?.string ?? "").utf8.prefix(4096)) ?? ""
        } else {
            status = ["pass": "passing", "warn": "warning", "fail": "critical"][verb] ?? "critical"
            output = request.query["note"] ?? ""
        }
        let ignored = breakage.current == .ttlPassIgnored
        let interval = checkUpdateInterval
        return state.withLock { state -> HTTPResponse in
            guard var check = state.checks[id]?.object else {
                return .text(404, "Unknown check ID \"\(id)\". Ensure that the check ID is passed, not the check name.")
            }
            guard check["Type"]?.string == "ttl" else { return .text(500, "CheckID \"\(id)\" does not have associated TTL") }
            if ignored { return .empty(200) }
            if status == "critical" { state.everCritical.insert(id) }
            let agentOutput = state.agentOutput[id] ?? check["Output"]?.string ?? ""
            if check["Status"]?.string == status {
                guard agentOutput != output else { return .empty(200) }
                state.agentOutput[id] = output
                if state.syncDue[id] == nil {
                    let seconds = interval / 2 + .milliseconds(Int.random(in: 0...max(0, Int(interval.components.seconds * 1000 + interval.components.attoseconds / 1_000_000_000_000_000))))
                    state.syncDue[id] = .now + seconds
                }
                return .empty(200)
            }
            check["Status"] = .string(status)
            check["Output"] = .string(output)
            state.agentOutput[id] = nil
            state.syncDue[id] = nil
            state.checks[id] = .object(check)
            state.bump(["checks", "service.\(check["ServiceName"]?.string ?? "")"])
            return .empty(200)
        }
    }

    /// The agent's deferred output syncs that are due: one catalog write each.
    func syncDeferredOutputs() {
        guard breakage.current != .outputNeverSynced else { return }
        state.withLock { state in
            let now = ContinuousClock.now
            for (id, due) in state.syncDue where due <= now {
                state.syncDue[id] = nil
                guard let output = state.agentOutput.removeValue(forKey: id), var check = state.checks[id]?.object else { continue }
                check["Output"] = .string(output)
                state.checks[id] = .object(check)
                state.bump(["checks", "service.\(check["ServiceName"]?.string ?? "")"])
            }
        }
    }

    /// `/v1/agent/checks`: the catalog's checks with the outputs the agent has not synced yet.
    func agentChecks() -> [String: JSONValue] {
        let current = state.current
        var checks = current.checks
        for (id, output) in current.agentOutput {
            guard var object = checks[id]?.object else { continue }
            object["Output"] = .string(output)
            checks[id] = .object(object)
        }
        return checks
    }

    static func sameIgnoringIndexes(_ old: JSONValue?, _ new: JSONValue) -> Bool {
        guard var a = old?.object, var b = new.object else { return false }
        for key in ["CreateIndex", "ModifyIndex", "Output"] { a[key] = nil; b[key] = nil }
        return a == b
    }

    private func filterOf(_ request: HTTPRequest) -> Result<FakeConsulFilter?, FakeConsulFilterError> {
        guard let text = request.query["filter"] else { return .success(nil) }
        return FakeConsulFilter.parse(text).map { $0 }
    }

    /// A list answer with `?filter=` applied (400 with Consul's text for one it cannot compile).
    func filteredList(_ request: HTTPRequest, _ list: [JSONValue]) -> HTTPResponse {
        switch filterOf(request) {
        case .failure(let error): return .text(400, error.message)
        case .success(let filter): return .json(200, .array(filter.map { f in list.filter(f.matches) } ?? list))
        }
    }

    /// A map answer (agent services, agent checks) with `?filter=` applied to its values.
    func filteredMap(_ request: HTTPRequest, _ map: [String: JSONValue]) -> HTTPResponse {
        switch filterOf(request) {
        case .failure(let error): return .text(400, error.message)
        case .success(let filter): return .json(200, .object(filter.map { f in map.filter { f.matches($0.value) } } ?? map))
        }
    }

    /// An agent restarted without a data dir: the services registered through its API are
    /// gone, and anti-entropy removes them from the catalog.
    func restartAgentLosingRegistrations() {
        state.withLock { state in
            let lost = state.services.filter { $0.value["Meta"]?["infraprobe_instance"] != nil }
            guard !lost.isEmpty else { return }
            for (id, service) in lost {
                state.services[id] = nil
                for check in state.checks.filter({ $0.value["ServiceID"]?.string == id }).keys {
                    state.checks[check] = nil; state.agentOutput[check] = nil; state.syncDue[check] = nil
                }
                state.bump(["services", "checks", "service.\(service["Service"]?.string ?? "")"])
            }
        }
    }

    /// A service as an infraprobe exporter registers it, e.g. one left behind, with its TTL check in `status`.
    func seedInfraprobeService(id: String, instance: String, role: String, created: Int, status: String = "passing") {
        state.withLock { state in
            state.services[id] = ["ID": .string(id), "Service": "infraprobe", "Tags": ["infraprobe"],
                                  "Meta": ["infraprobe_instance": .string(instance), "infraprobe_role": .string(role),
                                           "infraprobe_created": .string(String(created))],
                                  "Port": 9, "Address": "127.0.0.1", "TaggedAddresses": Self.taggedAddresses("127.0.0.1", 9),
                                  "Weights": ["Passing": 1, "Warning": 1], "EnableTagOverride": false, "Datacenter": "dc1"]
            state.checks[id + "-ttl"] = Self.check(id: id + "-ttl", name: "infraprobe TTL", status: status, serviceID: id,
                                                   serviceName: "infraprobe", tags: ["infraprobe"], type: "ttl")
            state.bump(["services", "checks", "service.infraprobe"])
        }
    }

    /// Registers an instance of `name` at `address:port` with one check in `status` (as an agent
    /// with a service definition file would), e.g. pointing at a real listener or a dead port.
    func seedService(_ name: String, id: String, address: String = "127.0.0.1", port: Int, tags: [String] = [], status: String = "passing") {
        state.withLock { state in
            state.services[id] = ["ID": .string(id), "Service": .string(name), "Tags": .array(tags.map { .string($0) }), "Meta": [:],
                                  "Port": .number(Double(port)), "Address": .string(address), "TaggedAddresses": Self.taggedAddresses(address, Double(port)),
                                  "Weights": ["Passing": 1, "Warning": 1], "EnableTagOverride": false, "Datacenter": "dc1"]
            state.checks["service:\(id)"] = Self.check(id: "service:\(id)", name: "Service '\(name)' check", status: status, serviceID: id,
                                                        serviceName: name, tags: tags, type: "tcp")
            state.bump(["services", "checks", "service.\(name)"])
        }
    }

    /// `GET /v1/health/service/<name>[?passing][&tag=]`: `[{"Node":{…},"Service":{…},"Checks":[…]}]`, `[]` when unknown;
    /// `passing` keeps only entries whose every check (node's serfHealth included) passes.
    private func healthService(_ name: String, request: HTTPRequest) -> HTTPResponse {
        let current = state.current
        let passingOnly = request.query["passing"] != nil
        let tag = request.query["tag"]
        let serf = current.checks["serfHealth"] ?? [:]
        let entries = visibleServices().filter { $0["Service"]?.string == name }
            .filter { service in tag.map { wanted in (service["Tags"]?.array ?? []).contains { $0.string == wanted } } ?? true }
            .compactMap { service -> JSONValue? in
                let id = service["ID"]?.string ?? ""
                let checks = [serf] + current.checks.values.filter { $0["ServiceID"]?.string == id }
                if passingOnly && !checks.allSatisfy({ $0["Status"]?.string == "passing" }) { return nil }
                return [
                    "Node": ["ID": "40e4a748-2192-161a-0510-9bf59fe950b5", "Node": .string(Self.nodeName), "Address": "127.0.0.1", "Datacenter": "dc1",
                             "TaggedAddresses": ["lan": "127.0.0.1", "wan": "127.0.0.1"], "Meta": [:], "CreateIndex": 5, "ModifyIndex": 5],
                    "Service": ["ID": .string(id), "Service": .string(name), "Tags": service["Tags"] ?? [], "Address": service["Address"] ?? "",
                                "TaggedAddresses": service["TaggedAddresses"] ?? [:], "Meta": service["Meta"] ?? [:], "Port": service["Port"] ?? 0,
                                "Weights": ["Passing": 1, "Warning": 1], "EnableTagOverride": false, "CreateIndex": 51, "ModifyIndex": 51],
                    "Checks": .array(checks.map(Self.catalogCheck)),
                ]
            }
        return filteredList(request, entries)
    }

    /// 1.21.5's key validation (hashicorp/consul validateKVKey); later releases relaxed it.
    func invalidKey(_ key: String) -> String? {
        guard version == "1.21.5" else { return nil }
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,-_./")
        let decoded = key.removingPercentEncoding ?? key
        if decoded.hasPrefix("/") || decoded.contains("..") || !decoded.unicodeScalars.allSatisfy({ $0.isASCII && allowed.contains($0) }) {
            return "Invalid key name: \(decoded)"
        }
        return nil
    }

    private func kv(method: String, key: String, request: HTTPRequest) -> HTTPResponse {
        if method == "PUT" {
            kvContentTypes.withLock { $0.append(request.header("content-type") ?? "") }
            if let problem = invalidKey(key) { return .text(400, problem) }
        }
        switch method {
        case "PUT":
            guard let flags = request.query["flags"].map({ UInt64($0) }) ?? UInt64(0) else {
                return .text(400, "Invalid flags: \"\(request.query["flags"] ?? "")\"")
            }
            let created = state.withLock { state -> Bool in
                if request.query["cas"] == "0" && state.kv[key] != nil { return false }
                state.bump(["kvs"])
                state.kv[key] = KVEntry(value: request.body, flags: flags, createIndex: state.kv[key]?.createIndex ?? state.index, modifyIndex: state.index)
                return true
            }
            return .json(200, .bool(created))
        case "GET":
            let current = state.current
            if request.query["keys"] != nil {
                let keys = current.kv.keys.filter { $0.hasPrefix(key) }.sorted()
                return keys.isEmpty ? .empty(404) : .json(200, .array(keys.map { .string($0) }))
            }
            if request.query["recurse"] != nil {
                let keys = current.kv.keys.filter { $0.hasPrefix(key) }.sorted()
                return keys.isEmpty ? .empty(404) : .json(200, .array(keys.map { kvEntry($0, current.kv[$0]!) }))
            }
            guard var entry = current.kv[key] else { return .empty(404) }
            if breakage.current == .kvReadsOtherValue { entry.value = Array("someone-else".utf8) }
            if request.query["raw"] != nil {
                var raw = HTTPResponse(status: 200, contentType: "text/plain", body: "", headers: [("X-Content-Type-Options", "nosniff")])
                raw.body = entry.value
                return raw
            }
            return .json(200, [kvEntry(key, entry)])
        default:
            // DELETE ?cas=<ModifyIndex>: only if the entry is still that version (false otherwise).
            if let cas = request.query["cas"] {
                guard let wanted = Int(cas), wanted > 0 else { return .text(400, "Invalid CAS index") }
                let deleted = state.withLock { state -> Bool in
                    guard let entry = state.kv[key] else { return true }
                    guard entry.modifyIndex == wanted else { return false }
                    state.kv[key] = nil
                    state.bump(["kvs"])
                    return true
                }
                return .json(200, .bool(deleted))
            }
            state.withLock {
                if $0.kv.removeValue(forKey: key) != nil { $0.bump(["kvs"]) }
            }
            return .json(200, true)
        }
    }

    private func kvEntry(_ key: String, _ entry: KVEntry) -> JSONValue {
        ["LockIndex": 0, "Key": .string(key), "Flags": .number(Double(entry.flags)),
         "Value": entry.value.isEmpty ? .null : .string(Data(entry.value).base64EncodedString()),
         "CreateIndex": .number(Double(entry.createIndex)), "ModifyIndex": .number(Double(entry.modifyIndex))]
    }
}
