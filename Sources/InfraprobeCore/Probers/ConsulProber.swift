import Foundation

/// Functional test of a Consul agent through its HTTP API: leader, raft/autopilot health, a
/// KV round trip, a service registration seen in the catalog and removed, and a TTL check
/// driven from critical to passing. Everything created is named after
/// `infraprobe/<instance>/<nonce>` and removed before the probe returns.
public struct ConsulProber: Prober {
    public static let descriptor = ProberDescriptor(
        kind: "consul",
        componentNames: ["service_running", "cluster_healthy", "kv_store", "service_registration", "health_checks", "ui_accessible"],
        addressKey: "url",
        make: { section, environment in try ConsulProber(section: section, environment: environment) })

    /// The service name every probe registers under (IDs are unique per probe).
    static let serviceName = "infraprobe"
    static let keyCharacters = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,_./-")
    /// Consul's answer to every read that needs the raft leader while there is none.
    static let noLeaderText = "No cluster leader"
    /// A client agent's answer to every server RPC while it has not joined any server (structs.ErrNoServers).
    static let noServersText = "No known Consul servers"
    /// Set (to `true`) on list answers from which ACLs removed entries the token may not read.
    static let aclFilteredHeader = "X-Consul-Results-Filtered-By-Acls"
    /// Enough of the UI index for its `<title>`; the whole page is ~0.8 MB and not gzipped.
    static let uiRange = "bytes=0-65535"

    public let endpoint: HTTPEndpoint
    public let keyPrefix: String
    public let uiPath: String
    public let expectedPeers: Int?

    public init(section: ConfigSection, environment: ProberEnvironment) throws {
        endpoint = HTTPEndpoint(client: environment.http, baseURL: try HTTPEndpoint.url(section, "url"),
                                auth: try HTTPEndpoint.auth(section, tokenHeader: "X-Consul-Token"),
                                tls: try HTTPEndpoint.tls(section))
        keyPrefix = try section.string("key_prefix") ?? "infraprobe"
        // Consul 1.21.5 rejects KV keys outside this set (400); later releases relax it.
        guard !keyPrefix.isEmpty, keyPrefix.unicodeScalars.allSatisfy({ $0.isASCII && Self.keyCharacters.contains($0) }),
              !keyPrefix.hasPrefix("/"), !keyPrefix.contains("..") else {
            throw section.error("key_prefix", "use only A-Z a-z 0-9 , _ . / - (no leading /, no ..), as Consul KV keys must; got \"\(keyPrefix)\"")
        }
        uiPath = try section.string("ui_path") ?? "/ui/"
        guard uiPath.hasPrefix("/") else { throw section.error("ui_path", "expected a path on the agent, starting with /") }
        expectedPeers = try section.int("expected_peers", range: 1...99)
    }

    public func checks() -> [ComponentCheck] {
        [
            ComponentCheck("service_running") { try await serviceRunning($0) },
            ComponentCheck("cluster_healthy") { try await clusterHealthy($0) },
            ComponentCheck("kv_store") { try await kvStore($0) },
            ComponentCheck("service_registration") { try await serviceRegistration($0) },
            ComponentCheck("health_checks") { try await healthChecks($0) },
            ComponentCheck("ui_accessible") { try await uiAccessible($0) },
        ]
    }

    /// Consul IDs cannot carry `/` in URL paths, so `infraprobe/<instance>/<nonce>` becomes dashes.
    func objectID(_ context: ComponentContext) -> String {
        "\(keyPrefix)-\(context.instanceID)-\(context.nonce)-\(context.component)"
    }

    // MARK: components

    func serviceRunning(_ context: ComponentContext) async throws {
        let (_, leader) = try await consulJSON("GET", "/v1/status/leader", context: context)
        guard let address = leader.string else {
            throw ProbeFailure(.unexpectedResponse, "/v1/status/leader is not a JSON string")
        }
        guard !address.isEmpty else { throw ProbeFailure(.notReady, "no cluster leader elected") }
        // Version needs agent:read; a token without it still passes this component.
        if let (_, me) = try? await endpoint.json("GET", "/v1/agent/self", context: context),
           let version = me["Config"]?["Version"]?.string {
            context.reportVersion(version)
        }
    }

    func clusterHealthy(_ context: ComponentContext) async throws {
        let (_, peersJSON) = try await consulJSON("GET", "/v1/status/peers", context: context)
        // `null` is how Consul encodes an empty raft configuration (a server waiting for bootstrap_expect).
        guard let peers = peersJSON.array ?? (peersJSON == .null ? [] : nil) else {
            throw ProbeFailure(.unexpectedResponse, "/v1/status/peers is not a JSON array")
        }
        context.fact("infraprobe_consul_raft_peers", help: "Raft peers reported by /v1/status/peers.", value: Double(peers.count))
        guard !peers.isEmpty else { throw ProbeFailure(.notReady, "no raft peers (the servers have not bootstrapped)") }
        if let expectedPeers, peers.count < expectedPeers / 2 + 1 {
            throw ProbeFailure(.unexpectedResponse, "\(peers.count) raft peers, below quorum of \(expectedPeers / 2 + 1) for \(expectedPeers) servers")
        }
        let response = try await consulCall("GET", "/v1/operator/autopilot/health", expect: [200, 429], context: context)
        let health = JSONValue.parse(response.body)
        guard let healthy = health?["Healthy"]?.bool, let health else {
            // 429 is also the agent's RPC rate limit, with an empty or text body.
            if response.status == 429 {
                throw ProbeFailure(.resourceExhausted, "autopilot health answered 429 without a health report: the agent is rate limiting RPCs"
                                   + (response.body.isEmpty ? "" : " (\(HTTPEndpoint.snippet(response.body, limit: 80)))"))
            }
            throw ProbeFailure(.unexpectedResponse, "autopilot health has no Healthy field")
        }
        if let tolerance = health["FailureTolerance"]?.double {
            context.fact("infraprobe_consul_autopilot_failure_tolerance", help: "Servers that can fail without losing quorum (autopilot).", value: tolerance)
        }
        guard response.status == 200 && healthy else {
            // Right after an election autopilot has no state yet and answers a zero report.
            if !healthy, health["Servers"] == .null || health["Servers"] == nil {
                throw ProbeFailure(.notReady, "autopilot has no server state yet (leader just elected)")
            }
            let unhealthy = (health["Servers"]?.array ?? []).filter { $0["Healthy"]?.bool == false }.compactMap { $0["Name"]?.string }
            throw ProbeFailure(.unexpectedResponse, "autopilot reports the cluster unhealthy (status \(response.status))"
                               + (unhealthy.isEmpty ? "" : "; unhealthy servers: \(unhealthy.joined(separator: ", "))"))
        }
    }

    func kvStore(_ context: ComponentContext) async throws {
        let key = "\(keyPrefix)/\(context.instanceID)/\(context.nonce)/kv"
        let path = "/v1/kv/" + key.split(separator: "/").map { urlEncode(String($0)) }.joined(separator: "/")
        let value = "infraprobe-\(context.nonce)-\(UInt32.random(in: 0...UInt32.max))"
        let endpoint = self.endpoint
        try await withCleanup({
            // cas=0: create only, never overwrites a key that is not ours.
            // octet-stream: what Consul's own client sends, and what ≥ 1.20 agents expect for KV writes.
            let (_, put) = try await consulJSON("PUT", path + "?cas=0", rawBody: Array(value.utf8), contentType: "application/octet-stream", context: context)
            guard put.bool == true else { throw ProbeFailure(.unexpectedResponse, "KV PUT ?cas=0 answered \(put), expected true") }
            let raw = try await consulCall("GET", path + "?raw", context: context)
            guard raw.text == value else {
                throw ProbeFailure(.unexpectedResponse, "KV read back \(HTTPEndpoint.snippet(raw.body, limit: 80)), expected \(value)")
            }
            let (_, entries) = try await consulJSON("GET", path, context: context)
            guard let stored = entries[0]?["Value"]?.string, let decoded = Data(base64Encoded: stored),
                  String(decoding: decoded, as: UTF8.self) == value else {
                throw ProbeFailure(.unexpectedResponse, "KV entry's base64 Value does not match what was written")
            }
            let (_, deleted) = try await consulJSON("DELETE", path, context: context)
            guard deleted.bool == true else { throw ProbeFailure(.unexpectedResponse, "KV DELETE answered \(deleted), expected true") }
            try await consulCall("GET", path, expect: [404], context: context)
        }, cleanup: { await endpoint.cleanup("DELETE", path, context: context) })
    }

    func registrationBody(id: String, context: ComponentContext, checkID: String) -> JSONValue {
        [
            "ID": .string(id), "Name": .string(Self.serviceName), "Tags": ["infraprobe"],
            "Address": "127.0.0.1", "Port": 9,
            "Meta": ["infraprobe_instance": .string(context.instanceID), "infraprobe_nonce": .string(context.nonce)],
            "Check": ["CheckID": .string(checkID), "Name": "infraprobe TTL", "TTL": "30s", "DeregisterCriticalServiceAfter": "1m"],
        ]
    }

    /// Runs `body` and deregisters the probe service if it fails (200 and 404 both mean gone).
    func withRegistration(_ id: String, context: ComponentContext, _ body: () async throws -> Void) async throws {
        let endpoint = self.endpoint
        try await withCleanup(body, cleanup: {
            await endpoint.cleanup("PUT", "/v1/agent/service/deregister/\(urlEncode(id))", expect: [200, 404], context: context)
        })
    }

    func serviceRegistration(_ context: ComponentContext) async throws {
        let id = objectID(context)
        try await withRegistration(id, context: context) {
        try await consulCall("PUT", "/v1/agent/service/register", body: registrationBody(id: id, context: context, checkID: id + "-ttl").serialized,
                                contentType: "application/json", context: context)
        let (_, local) = try await consulJSON("GET", "/v1/agent/service/\(urlEncode(id))", context: context)
        guard local["ID"]?.string == id, local["Service"]?.string == Self.serviceName else {
            throw ProbeFailure(.unexpectedResponse, "agent does not show the registered service \(id)")
        }
        // The agent syncs the catalog before answering the registration; a stale read or a
        // failed sync can lag, so poll. An ACL token without node:read sees an empty list.
        try await Poll.standard.until(context, what: "service \(id) in the catalog (a token needs node:read and service:read to see it)") {
            let response = try await consulCall("GET", "/v1/catalog/service/\(Self.serviceName)", context: context)
            guard let list = JSONValue.parse(response.body)?.array else { throw ProbeFailure(.unexpectedResponse, "catalog answer is not an array") }
            if list.isEmpty { try Self.rejectACLFiltered(response, what: "the catalog entry of \(Self.serviceName)") }
            return list.contains { $0["ServiceID"]?.string == id }
        }
        try await consulCall("PUT", "/v1/agent/service/deregister/\(urlEncode(id))", expect: [200], context: context)
        try await consulCall("GET", "/v1/agent/service/\(urlEncode(id))", expect: [404], context: context)
        }
    }

    func healthChecks(_ context: ComponentContext) async throws {
        let id = objectID(context)
        let checkID = id + "-ttl"
        try await withRegistration(id, context: context) {
        try await consulCall("PUT", "/v1/agent/service/register", body: registrationBody(id: id, context: context, checkID: checkID).serialized,
                                contentType: "application/json", context: context)
        guard try await checkStatus(checkID, context: context) == "critical" else {
            throw ProbeFailure(.unexpectedResponse, "a new TTL check should start critical")
        }
        try await consulCall("PUT", "/v1/agent/check/pass/\(urlEncode(checkID))?note=infraprobe", context: context)
        let status = try await checkStatus(checkID, context: context)
        guard status == "passing" else {
            throw ProbeFailure(.unexpectedResponse, "TTL check is \(status ?? "missing") after check/pass, expected passing")
        }
        try await consulCall("PUT", "/v1/agent/service/deregister/\(urlEncode(id))", expect: [200], context: context)
        }
        // Cluster-wide problem counts, without the short-lived checks of probes (this one's, the
        // concurrent service_registration's, or another infraprobe's): they start critical.
        // Only the non-passing states: `any` lists every check in the DC, each with up to 4 KiB of
        // output, which outgrows the body cap on a large cluster and loads the leader every scrape.
        let probeObject = { (id: String?) in id?.hasPrefix("\(keyPrefix)-") == true }
        for state in ["warning", "critical"] {
            let (_, listed) = try await consulJSON("GET", "/v1/health/state/\(state)?stale", context: context)
            guard let checks = listed.array else { throw ProbeFailure(.unexpectedResponse, "/v1/health/state/\(state) is not an array") }
            let count = checks.filter { !probeObject($0["CheckID"]?.string) && !probeObject($0["ServiceID"]?.string) }.count
            context.fact("infraprobe_consul_health_checks", help: "Consul health checks in a non-passing state (cluster-wide).",
                         labels: ["status": state], value: Double(count))
        }
    }

    func checkStatus(_ checkID: String, context: ComponentContext) async throws -> String? {
        let (_, checks) = try await consulJSON("GET", "/v1/agent/checks", context: context)
        guard checks.object != nil else { throw ProbeFailure(.unexpectedResponse, "/v1/agent/checks is not an object") }
        guard let check = checks[checkID] else { throw ProbeFailure(.unexpectedResponse, "check \(checkID) is not registered on the agent") }
        return check["Status"]?.string
    }

    func uiAccessible(_ context: ComponentContext) async throws {
        let page = try await endpoint.call("GET", uiPath, headers: [("Range", Self.uiRange)], expect: [200, 206, 404], context: context)
        guard page.status != 404 else {
            throw ProbeFailure(.httpStatus, "\(uiPath) answered 404: the UI is disabled (ui_config.enabled) or ui_path is not its content_path")
        }
        guard page.contentType?.lowercased().hasPrefix("text/html") == true else {
            throw ProbeFailure(.unexpectedResponse, "\(uiPath) is \(page.contentType ?? "untyped"), expected text/html")
        }
        guard page.text.contains("Consul") else { throw ProbeFailure(.unexpectedResponse, "\(uiPath) does not look like the Consul UI") }
    }

    // MARK: requests

    /// A Consul request: a 500 `No cluster leader` (any read or write that needs the raft
    /// leader while there is none) or `No known Consul servers` (a client agent that has not
    /// joined) is `not_ready`, like an empty leader; otherwise as `call`.
    @discardableResult
    func consulCall(_ method: String, _ path: String, body: [UInt8]? = nil, contentType: String? = nil,
                    expect: Set<Int> = [200], deadline: Deadline? = nil, context: ComponentContext) async throws -> HTTPClientResponse {
        let response = try await endpoint.call(method, path, body: body, contentType: contentType, expect: expect.union([500]),
                                               responseHeaders: [Self.aclFilteredHeader], deadline: deadline, context: context)
        if response.status == 500 && !expect.contains(500) {
            let text = response.text.trimmingCharacters(in: .whitespacesAndNewlines)
            if text.contains(Self.noLeaderText) {
                throw ProbeFailure(.notReady, "\(method) \(HTTPEndpoint.pathOnly(endpoint.resolve(path))): no cluster leader")
            }
            if text.contains(Self.noServersText) {
                throw ProbeFailure(.notReady, "\(method) \(HTTPEndpoint.pathOnly(endpoint.resolve(path))): the agent knows no Consul servers (not joined)")
            }
            throw ProbeFailure(.httpStatus, "\(method) \(HTTPEndpoint.pathOnly(endpoint.resolve(path))) answered 500, expected \(expect.sorted().map(String.init).joined(separator: "/"))"
                               + (text.isEmpty ? "" : ": \(HTTPEndpoint.snippet(response.body, limit: 120))"))
        }
        return response
    }

    /// An empty list that ACLs filtered (needs an authenticated request, Consul ≥ 1.11) is a
    /// permission problem, not a missing entry: catalog and health reads need node:read and service:read.
    static func rejectACLFiltered(_ response: HTTPClientResponse, what: String) throws {
        guard response.headers[aclFilteredHeader]?.lowercased() == "true" else { return }
        throw ProbeFailure(.auth, "ACLs filtered \(what) out of the answer: the token needs node:read and service:read")
    }

    /// `consulCall` whose answer must be JSON.
    @discardableResult
    func consulJSON(_ method: String, _ path: String, rawBody: [UInt8]? = nil, contentType: String? = nil,
                    expect: Set<Int> = [200], context: ComponentContext) async throws -> (status: Int, json: JSONValue) {
        let response = try await consulCall(method, path, body: rawBody, contentType: contentType, expect: expect, context: context)
        guard let json = JSONValue.parse(response.body) else {
            throw ProbeFailure(.unexpectedResponse, "\(method) \(HTTPEndpoint.pathOnly(endpoint.resolve(path))) answered \(response.status) with a body that is not JSON: \(HTTPEndpoint.snippet(response.body, limit: 80))")
        }
        return (response.status, json)
    }
}
