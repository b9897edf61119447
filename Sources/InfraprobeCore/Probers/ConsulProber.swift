import FoundationEssentials
import Glibc

/// Functional test of a Consul agent through its HTTP API: leader, raft/autopilot health, a
/// KV round trip, a service registration seen in the catalog and removed, and a long-lived
/// probe service whose TTL check each probe drives and reads back through the agent and the
/// catalog. Built for low churn: a probe writes nothing to the catalog except what
/// `service_registration` registers (meant for a low cadence), and nothing it creates is
/// ever `critical` while its exporter runs. What it creates carries `infraprobe_*` meta and
/// its creation time, so `sweepLeftovers` can prove what is abandoned.
public struct ConsulProber: Prober {
    public static let descriptor = ProberDescriptor(
        kind: "consul",
        componentNames: ["service_running", "cluster_healthy", "kv_store", "service_registration", "health_checks", "ui_accessible"],
        addressKey: "url",
        // Each registers a service: a Raft write, a catalog change every watch, consul-template
        // and DNS client sees, and anti-entropy work on the agent. Every few minutes.
        defaultEvery: ["service_registration": .seconds(300)],
        make: { section, environment in try ConsulProber(section: section, environment: environment) })

    /// The service name every probe registers under (IDs are unique per exporter or probe).
    static let serviceName = "infraprobe"
    static let keyCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,_./-".unicodeScalars)
    /// Consul's answer to every read that needs the raft leader while there is none.
    static let noLeaderText = "No cluster leader"
    /// A client agent's answer to every server RPC while it has not joined any server (structs.ErrNoServers).
    static let noServersText = "No known Consul servers"
    /// Older agents' 500 for a TTL update of a check they do not have (newer ones answer 404).
    static let noTTLText = "does not have associated TTL"
    /// Set (to `true`) on list answers from which ACLs removed entries the token may not read.
    static let aclFilteredHeader = "X-Consul-Results-Filtered-By-Acls"
    /// Enough of the UI index for its `<title>`; the whole page is ~0.8 MB and not gzipped.
    static let uiRange = "bytes=0-65535"
    /// Consul's floor for DeregisterCriticalServiceAfter: a dead exporter's probe service goes a minute after its TTL ran out.
    static let deregisterCriticalAfter = "1m"
    /// A cluster-wide state list is counted as it streams, never held: this bounds only the transfer.
    static let stateListLimit = 512 * 1024 * 1024

    public let endpoint: HTTPEndpoint
    public let keyPrefix: String
    public let uiPath: String
    public let expectedPeers: Int?
    /// This exporter process: it owns the probe service `<prefix>-<instance>`.
    public let instanceID: String
    /// The probe service's TTL: longer than the gap between two `health_checks` runs.
    public let probeTTL: Duration
    /// How far the catalog may trail the agent for the probe check's output. The agent
    /// syncs an output-only change after check_update_interval/2 … ×1.5 (default 5m), so
    /// the default allows for that plus a full anti-entropy round.
    public let catalogMaxLag: Duration
    /// When this prober first drove the probe check through each agent (the catalog may show
    /// an older output until the agent's deferred sync runs).
    let firstDriven = Locked<Date?>(nil)

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
        instanceID = environment.instanceID
        probeTTL = try section.duration("probe_ttl", range: .seconds(10)...(.seconds(86_400))) ?? .seconds(600)
        catalogMaxLag = try section.duration("catalog_max_lag", range: .seconds(1)...(.seconds(86_400))) ?? .seconds(600)
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

    /// Consul IDs cannot carry `/` in URL paths, so the prefix's `/` become dashes.
    var idPrefix: String { keyPrefix.replacingEvery("/", with: "-") }

    /// The short-lived service of one `service_registration` run.
    func registrationID(_ context: ComponentContext) -> String { "\(idPrefix)-\(context.instanceID)-\(context.nonce)-registration" }

    /// This exporter's long-lived probe service and its TTL check.
    var probeServiceID: String { "\(idPrefix)-\(instanceID)" }
    var probeCheckID: String { probeServiceID + "-ttl" }

    static func unixNow() -> Int { Int(Date().timeIntervalSince1970) }

    /// A `filter` query parameter (go-bexpr), URL-encoded.
    static func filter(_ expression: String) -> String { "filter=" + urlEncode(expression) }

    /// `"text"` as a bexpr string literal.
    static func quoted(_ text: String) -> String {
        "\"" + text.replacingEvery("\\", with: "\\\\").replacingEvery("\"", with: "\\\"") + "\""
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

    /// `<prefix>/<instance>/<nonce>/kv`, written with its creation time (unix seconds) as the
    /// entry's flags, so a janitor can prove a leftover's age from the entry alone.
    func kvStore(_ context: ComponentContext) async throws {
        let key = "\(keyPrefix)/\(context.instanceID)/\(context.nonce)/kv"
        let path = "/v1/kv/" + key.split(separator: "/").map { urlEncode(String($0)) }.joined(separator: "/")
        let value = "infraprobe-\(context.nonce)-\(UInt32.random(in: 0...UInt32.max))"
        let created = Self.unixNow()
        let endpoint = self.endpoint
        try await withCleanup(context, {
            // cas=0: create only, never overwrites a key that is not ours.
            // octet-stream: what Consul's own client sends, and what ≥ 1.20 agents expect for KV writes.
            let (_, put) = try await consulJSON("PUT", path + "?cas=0&flags=\(created)", rawBody: Array(value.utf8),
                                                contentType: "application/octet-stream", context: context)
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
            guard entries[0]?["Flags"]?.double == Double(created) else {
                throw ProbeFailure(.unexpectedResponse, "KV entry's Flags are \(entries[0]?["Flags"].map { "\($0)" } ?? "missing"), expected \(created) as written")
            }
            let (_, deleted) = try await consulJSON("DELETE", path, context: context)
            guard deleted.bool == true else { throw ProbeFailure(.unexpectedResponse, "KV DELETE answered \(deleted), expected true") }
            try await consulCall("GET", path, expect: [404], context: context)
        }, cleanup: endpoint.removal("DELETE", path, context: context))
    }

    /// A service of this exporter: passing from the start (a TTL check with `Status`), tagged
    /// with the meta a janitor proves ownership and age by.
    func serviceBody(id: String, role: String, created: Int, checkName: String, ttl: Duration) -> JSONValue {
        [
            "ID": .string(id), "Name": .string(Self.serviceName), "Tags": ["infraprobe"],
            "Address": "127.0.0.1", "Port": 9,
            "Meta": ["infraprobe_instance": .string(instanceID), "infraprobe_role": .string(role), "infraprobe_created": .string(String(created))],
            "Check": ["CheckID": .string(id + "-ttl"), "Name": .string(checkName), "TTL": .string(DurationParser.format(ttl)),
                      "Status": "passing", "Notes": "infraprobe's own probe check: passing unless its exporter stopped",
                      "DeregisterCriticalServiceAfter": .string(Self.deregisterCriticalAfter)],
        ]
    }

    /// Runs `body` and deregisters the service if it fails (200 and 404 both mean gone).
    func withRegistration(_ id: String, context: ComponentContext, _ body: () async throws -> Void) async throws {
        let endpoint = self.endpoint
        try await withCleanup(context, body,
                              cleanup: endpoint.removal("PUT", "/v1/agent/service/deregister/\(urlEncode(id))", expect: [200, 404], context: context))
    }

    /// A real registration and deregistration: two catalog writes, so it is meant to run at
    /// a low cadence. Its service passes from the start and is gone before the probe returns.
    func serviceRegistration(_ context: ComponentContext) async throws {
        let id = registrationID(context)
        try await withRegistration(id, context: context) {
            let body = serviceBody(id: id, role: "registration", created: Self.unixNow(), checkName: "infraprobe registration TTL", ttl: .seconds(600))
            try await consulCall("PUT", "/v1/agent/service/register", body: body.serialized, contentType: "application/json", context: context)
            let (_, local) = try await consulJSON("GET", "/v1/agent/service/\(urlEncode(id))", context: context)
            guard local["ID"]?.string == id, local["Service"]?.string == Self.serviceName else {
                throw ProbeFailure(.unexpectedResponse, "agent does not show the registered service \(id)")
            }
            // The agent syncs the catalog before answering the registration; a stale read or a
            // failed sync can lag, so poll. An ACL token without node:read sees an empty list.
            // The filter keeps the answer to this one instance however many probe services exist.
            let catalog = "/v1/catalog/service/\(Self.serviceName)?" + Self.filter("ServiceID == \(Self.quoted(id))")
            try await Poll.standard.until(context, what: "service \(id) in the catalog (a token needs node:read and service:read to see it)",
                                          reserving: inlineCleanupReserve) {
                let response = try await consulCall("GET", catalog, context: context)
                guard let list = JSONValue.parse(response.body)?.array else { throw ProbeFailure(.unexpectedResponse, "catalog answer is not an array") }
                if list.isEmpty { try Self.rejectACLFiltered(response, what: "the catalog entry of \(Self.serviceName)") }
                return list.contains { $0["ServiceID"]?.string == id }
            }
            try await consulCall("PUT", "/v1/agent/service/deregister/\(urlEncode(id))", expect: [200], context: context)
            try await consulCall("GET", "/v1/agent/service/\(urlEncode(id))", expect: [404], context: context)
        }
    }

    /// Drives this exporter's probe check (registered once, again only when the agent lost it)
    /// to a new output with its status kept `passing`, and reads it back through the agent and
    /// the catalog. An output-only change is agent-local until the agent's deferred sync, so a
    /// probe costs no raft write and wakes no blocking query; the catalog must show an output
    /// no older than `catalog_max_lag`. Then counts the cluster's non-passing checks.
    func healthChecks(_ context: ComponentContext) async throws {
        let now = Self.unixNow()
        let output = "infraprobe \(context.nonce) at \(now)"
        let update = "/v1/agent/check/update/\(urlEncode(probeCheckID))"
        let body = JSONValue.object(["Status": "passing", "Output": .string(output)]).serialized
        let first = try await consulCall("PUT", update, body: body, contentType: "application/json", expect: [200, 404, 500], context: context)
        var registered = false
        if first.status != 200 {
            guard first.status == 404 || first.text.contains(Self.noTTLText) else { throw failure(first, "PUT", update, expected: [200, 404]) }
            try await registerProbeService(created: now, context: context)
            registered = true
            try await consulCall("PUT", update, body: body, contentType: "application/json", context: context)
        }
        let drivenSince = firstDriven.withLock { first -> Date in
            if registered || first == nil { first = Date() }
            return first!
        }

        let (_, agentChecks) = try await consulJSON("GET", "/v1/agent/checks?" + Self.filter("CheckID == \(Self.quoted(probeCheckID))"), context: context)
        guard agentChecks.object != nil else { throw ProbeFailure(.unexpectedResponse, "/v1/agent/checks is not an object") }
        guard let local = agentChecks[probeCheckID] else {
            throw ProbeFailure(.unexpectedResponse, "the agent does not list the probe check \(probeCheckID) it just updated")
        }
        guard local["Status"]?.string == "passing" else {
            throw ProbeFailure(.unexpectedResponse, "the probe check is \(local["Status"]?.string ?? "without status") on the agent after an update to passing")
        }
        guard local["Output"]?.string == output else {
            throw ProbeFailure(.unexpectedResponse, "the agent shows the probe check's output \"\(String((local["Output"]?.string ?? "").prefix(80)))\", not the update's \"\(output)\"")
        }

        try await checkCatalogView(drivenSince: drivenSince, context: context)
        try await countNonPassingChecks(context)
    }

    func registerProbeService(created: Int, context: ComponentContext) async throws {
        let body = serviceBody(id: probeServiceID, role: "probe", created: created, checkName: "infraprobe health_checks TTL", ttl: probeTTL)
        try await consulCall("PUT", "/v1/agent/service/register", body: body.serialized, contentType: "application/json", context: context)
    }

    /// The catalog's copy of the probe check: present (polled: a fresh registration syncs
    /// at once but a stale read can trail), passing, and with an output the agent wrote no
    /// longer than `catalogMaxLag` ago (or that it got since this prober started driving it).
    func checkCatalogView(drivenSince: Date, context: ComponentContext) async throws {
        let path = "/v1/health/checks/\(Self.serviceName)?stale&" + Self.filter("ServiceID == \(Self.quoted(probeServiceID))")
        var seen: JSONValue?
        try await Poll.standard.until(context, what: "the probe check \(probeCheckID) in the catalog (a token needs node:read and service:read to see it)") {
            let response = try await consulCall("GET", path, context: context)
            guard let list = JSONValue.parse(response.body)?.array else { throw ProbeFailure(.unexpectedResponse, "/v1/health/checks answer is not an array") }
            if list.isEmpty { try Self.rejectACLFiltered(response, what: "the probe check") }
            seen = list.first { $0["CheckID"]?.string == probeCheckID }
            return seen != nil
        }
        guard let check = seen else { return }
        guard check["Status"]?.string == "passing" else {
            throw ProbeFailure(.unexpectedResponse, "the catalog shows the probe check \(check["Status"]?.string ?? "without status") while the agent has it passing")
        }
        let written = Self.outputTime(check["Output"]?.string ?? "")
        let reference = max(written.map { Date(timeIntervalSince1970: TimeInterval($0)) } ?? .distantPast, drivenSince)
        let lag = Date().timeIntervalSince(reference)
        let allowed = Double(catalogMaxLag.components.seconds)
        guard lag <= allowed else {
            throw ProbeFailure(.unexpectedResponse, "the catalog's copy of the probe check is \(Int(lag)) s behind the agent (allowed \(DurationParser.format(catalogMaxLag))): the agent's anti-entropy sync is not reaching the servers")
        }
    }

    /// The unix time in an output this prober wrote (`infraprobe <nonce> at <seconds>`).
    static func outputTime(_ output: String) -> Int? {
        guard output.hasPrefix("infraprobe "), let at = output.lastRange(of: " at "),
              let seconds = Int(output[at.upperBound...]), seconds > 0 else { return nil }
        return seconds
    }

    /// Cluster-wide problem counts, without infraprobe's own services (another exporter's
    /// abandoned probe service is not the cluster's problem). Only the non-passing states,
    /// filtered on the server and counted as the answer streams: in an outage of a 10,000-check
    /// cluster, each check with up to 4 KiB of output, the list is tens of MB, which no body cap fits.
    func countNonPassingChecks(_ context: ComponentContext) async throws {
        let filter = Self.filter("ServiceName != \(Self.quoted(Self.serviceName))")
        for state in ["warning", "critical"] {
            let counter = JSONArrayCounter()
            let path = "/v1/health/state/\(state)?stale&" + filter
            let response = try await consulCall("GET", path, maxBodyBytes: Self.stateListLimit, bodyConsumer: counter, context: context)
            guard counter.isComplete else {
                throw ProbeFailure(.unexpectedResponse, "/v1/health/state/\(state) is not a JSON array: \(HTTPEndpoint.snippet(response.body, limit: 80))")
            }
            context.fact("infraprobe_consul_health_checks", help: "Consul health checks in a non-passing state (cluster-wide, infraprobe's own excluded).",
                         labels: ["status": state], value: Double(counter.count))
        }
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
                    expect: Set<Int> = [200], deadline: Deadline? = nil, maxBodyBytes: Int = 4 * 1024 * 1024,
                    bodyConsumer: (any HTTPBodyConsumer)? = nil, context: ComponentContext) async throws -> HTTPClientResponse {
        let response = try await endpoint.call(method, path, body: body, contentType: contentType, expect: expect.union([500]),
                                               maxBodyBytes: maxBodyBytes, responseHeaders: [Self.aclFilteredHeader], deadline: deadline,
                                               bodyConsumer: bodyConsumer, context: context)
        if response.status == 500 && !expect.contains(500) { throw failure(response, method, path, expected: expect) }
        return response
    }

    /// What a 500 from Consul means.
    func failure(_ response: HTTPClientResponse, _ method: String, _ path: String, expected: Set<Int>) -> ProbeFailure {
        let text = response.text.trimmingWhitespaceAndNewlines()
        let shown = HTTPEndpoint.pathOnly(endpoint.resolve(path))
        if text.contains(Self.noLeaderText) { return ProbeFailure(.notReady, "\(method) \(shown): no cluster leader") }
        if text.contains(Self.noServersText) { return ProbeFailure(.notReady, "\(method) \(shown): the agent knows no Consul servers (not joined)") }
        return ProbeFailure(.httpStatus, "\(method) \(shown) answered \(response.status), expected \(expected.sorted().map(String.init).joined(separator: "/"))"
                            + (text.isEmpty ? "" : ": \(HTTPEndpoint.snippet(response.body, limit: 120))"))
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
