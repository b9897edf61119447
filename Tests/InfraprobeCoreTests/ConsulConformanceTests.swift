import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// Consul's documented responses (`../shared/conformance/consul`, read at test time): the
/// prober's components run against them, and FakeConsul's answers are compared with them.
@Suite("Consul against its documented responses")
struct ConsulConformanceTests {
    static func transcript(_ path: String) throws -> RecordedResponse {
        try Transcript.load("consul/" + path).response()
    }

    /// A Consul agent answering with the documented responses, changing only the values that name
    /// the probe's own objects (key, value, service and check IDs, check status), never the fields
    /// or their types: the replay server's bytes, with just enough state for a round trip.
    final class DocumentedConsul: @unchecked Sendable {
        struct Recorded {
            let leader, peers, autopilot, kvGet, kvPut, kvDelete, agentService, catalogService, agentChecks, healthState: RecordedResponse
        }

        let recorded: Recorded
        /// Values and the flags they were written with.
        let kv = Locked<[String: (value: [UInt8], flags: Double)]>([:])
        /// Registered services (id → name) and their TTL checks (check id → service id, status, output).
        let services = Locked<[String: String]>([:])
        let checks = Locked<[String: (service: String, status: String, output: String)]>([:])
        let autopilotUnhealthy: Bool
        private var server: LoopbackTestServer?

        init(autopilotUnhealthy: Bool = false) throws {
            recorded = Recorded(leader: try transcript("status/leader-200.http"), peers: try transcript("status/peers-200.http"),
                                autopilot: try transcript("operator/autopilot-health-200.http"), kvGet: try transcript("kv/get-200.http"),
                                kvPut: try transcript("kv/put-200-true.http"), kvDelete: try transcript("kv/delete-200-true.http"),
                                agentService: try transcript("agent/service-get-200.http"),
                                catalogService: try transcript("catalog/service-200.http"),
                                agentChecks: try transcript("agent/checks-200.http"), healthState: try transcript("health/state-200.http"))
            self.autopilotUnhealthy = autopilotUnhealthy
        }

        var url: String { "http://127.0.0.1:\(server?.port ?? 0)" }

        func start() throws {
            server = try LoopbackTestServer { [unowned self] request in self.answer(request) }
        }

        func stopOffPool() async { await server?.stopOffPool() }

        func respond(_ recorded: RecordedResponse, status: Int? = nil, json: JSONValue? = nil) -> HTTPResponse {
            var response = recorded.httpResponse
            if let status { response.status = status }
            if let json { response.body = json.serialized }
            return response
        }

        func plain(_ status: Int, _ body: [UInt8] = [], contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
            var response = HTTPResponse(status: status, contentType: contentType, body: "")
            response.body = body
            return response
        }

        func answer(_ request: HTTPRequest) -> HTTPResponse {
            let path = request.path
            switch (request.method, path) {
            case ("GET", "/v1/status/leader"): return respond(recorded.leader)
            case ("GET", "/v1/status/peers"): return respond(recorded.peers)
            case ("GET", "/v1/operator/autopilot/health"):
                // The doc: "If Healthy is false, then a status of 429" with the same body.
                guard autopilotUnhealthy, var body = recorded.autopilot.json?.object else { return respond(recorded.autopilot) }
                body["Healthy"] = false
                return respond(recorded.autopilot, status: 429, json: .object(body))
            case ("PUT", "/v1/agent/service/register"):
                guard let body = request.json, let id = body["ID"]?.string, let name = body["Name"]?.string else { return plain(400) }
                services.withLock { $0[id] = name }
                if let checkID = body["Check"]?["CheckID"]?.string {
                    checks.withLock { $0[checkID] = (id, body["Check"]?["Status"]?.string ?? "critical", "") }
                }
                return plain(200)
            case ("GET", "/v1/agent/checks"):
                guard var checks = recorded.agentChecks.json?.object, let sample = checks.values.first?.object else { return plain(500) }
                let registered = services.current
                for (id, check) in self.checks.current {
                    var mine = sample
                    mine["CheckID"] = .string(id)
                    mine["Status"] = .string(check.status)
                    mine["Output"] = .string(check.output)
                    mine["ServiceID"] = .string(check.service)
                    mine["ServiceName"] = .string(registered[check.service] ?? "")
                    checks[id] = .object(mine)
                }
                return respond(recorded.agentChecks, json: .object(checks))
            case ("GET", _) where path.hasPrefix("/v1/health/state/"):
                let state = String(path.dropFirst("/v1/health/state/".count))
                let all = recorded.healthState.json?.array ?? []
                return respond(recorded.healthState, json: .array(all.filter { state == "any" || $0["Status"]?.string == state }))
            default: break
            }
            // health/checks answers the same HealthCheck objects as health/state (no sample of its own).
            if path.hasPrefix("/v1/health/checks/"), request.method == "GET" {
                let name = String(path.dropFirst("/v1/health/checks/".count))
                guard let sample = recorded.healthState.json?.array?.first?.object else { return plain(500) }
                let registered = services.current
                let mine = checks.current.filter { registered[$0.value.service] == name }.sorted { $0.key < $1.key }.map { id, check -> JSONValue in
                    var entry = sample
                    entry["CheckID"] = .string(id)
                    entry["Status"] = .string(check.status)
                    entry["Output"] = .string(check.output)
                    entry["ServiceID"] = .string(check.service)
                    entry["ServiceName"] = .string(name)
                    return .object(entry)
                }
                return respond(recorded.healthState, json: .array(mine))
            }
            if path.hasPrefix("/v1/agent/check/update/"), request.method == "PUT" {
                let id = String(path.dropFirst("/v1/agent/check/update/".count))
                guard let body = request.json, let status = body["Status"]?.string else { return plain(400) }
                let known = checks.withLock { current -> Bool in
                    guard current[id] != nil else { return false }
                    current[id]?.status = status
                    current[id]?.output = body["Output"]?.string ?? ""
                    return true
                }
                return known ? plain(200) : plain(404, Array("Unknown check ID \"\(id)\"".utf8))
            }
            if path.hasPrefix("/v1/agent/check/pass/"), request.method == "PUT" {
                let id = String(path.dropFirst("/v1/agent/check/pass/".count))
                let known = checks.withLock { current -> Bool in
                    guard current[id] != nil else { return false }
                    current[id]?.status = "passing"
                    return true
                }
                return known ? plain(200) : plain(404, Array("Unknown check ID \"\(id)\"".utf8))
            }
            if path.hasPrefix("/v1/agent/service/deregister/"), request.method == "PUT" {
                let id = String(path.dropFirst("/v1/agent/service/deregister/".count))
                services.withLock { $0[id] = nil }
                checks.withLock { $0 = $0.filter { $0.value.service != id } }
                return plain(200)
            }
            if path.hasPrefix("/v1/agent/service/"), request.method == "GET" {
                let id = String(path.dropFirst("/v1/agent/service/".count))
                guard let name = services.current[id], var body = recorded.agentService.json?.object else {
                    return plain(404, Array("unknown service ID: \(id)".utf8))
                }
                body["ID"] = .string(id)
                body["Service"] = .string(name)
                return respond(recorded.agentService, json: .object(body))
            }
            if path.hasPrefix("/v1/catalog/service/"), request.method == "GET" {
                let name = String(path.dropFirst("/v1/catalog/service/".count))
                guard let sample = recorded.catalogService.json?.array?.first?.object else { return plain(500) }
                let entries = services.current.filter { $0.value == name }.keys.sorted().map { id -> JSONValue in
                    var entry = sample
                    entry["ServiceID"] = .string(id)
                    entry["ServiceName"] = .string(name)
                    return .object(entry)
                }
                return respond(recorded.catalogService, json: .array(entries))
            }
            if path.hasPrefix("/v1/kv/") {
                let key = String(path.dropFirst("/v1/kv/".count))
                switch request.method {
                case "PUT":
                    kv.withLock { $0[key] = (request.body, request.query["flags"].flatMap(Double.init) ?? 0) }
                    return respond(recorded.kvPut)
                case "DELETE":
                    kv.withLock { $0[key] = nil }
                    return respond(recorded.kvDelete)
                default:
                    // Missing key: 404 with an empty body (kv.mdx).
                    guard let (value, flags) = kv.current[key] else { return plain(404) }
                    if request.query["raw"] != nil { return plain(200, value, contentType: "text/plain") }
                    guard var entry = recorded.kvGet.json?.array?.first?.object else { return plain(500) }
                    entry["Key"] = .string(key.removingPercentEncoding ?? key)
                    entry["Value"] = .string(Data(value).base64EncodedString())
                    entry["Flags"] = .number(flags)
                    return respond(recorded.kvGet, json: [.object(entry)])
                }
            }
            return plain(404, Array("Invalid URL path: not a recognized HTTP API endpoint".utf8))
        }
    }

    /// Every component with documented responses (the UI page has none).
    static let documented = ["service_running", "cluster_healthy", "kv_store", "service_registration", "health_checks"]

    func probe(_ server: DocumentedConsul) async throws -> ProbeHarness.Outcome {
        try await ProbeHarness.probe("consul", ["url: \(server.url)", "components: [\(Self.documented.joined(separator: ", "))]"])
    }

    @Test("every component passes against the documented responses")
    func test_consulProbe_passes_againstDocumentedResponses() async throws {
        let server = try DocumentedConsul()
        try server.start()
        let outcome = try await probe(server)
        await server.stopOffPool()
        #expect(outcome.allUp, "\(outcome.summary)")
        #expect(outcome.fact("infraprobe_consul_raft_peers") == 3)
        #expect(outcome.fact("infraprobe_consul_autopilot_failure_tolerance") == 0)
        #expect(outcome.fact("infraprobe_consul_health_checks", ["status": "critical"]) == 0)
        #expect(server.kv.current.isEmpty, "the probe removed its key")
        // What stays is the exporter's one long-lived probe service, its check passing with the last probe's output.
        #expect(server.services.current == ["infraprobe-test-host-1": "infraprobe"], "\(server.services.current)")
        let check = server.checks.current["infraprobe-test-host-1-ttl"]
        #expect(check?.status == "passing" && check?.output.hasPrefix("infraprobe ") == true)
    }

    @Test("the documented unhealthy autopilot answer (429, Healthy false, same body) fails cluster_healthy only")
    func test_consulProbe_reportsUnhealthy_againstDocumented429() async throws {
        let server = try DocumentedConsul(autopilotUnhealthy: true)
        try server.start()
        let outcome = try await probe(server)
        await server.stopOffPool()
        #expect(outcome.reason("cluster_healthy") == .unexpectedResponse, "\(outcome.summary)")
        for other in Self.documented where other != "cluster_healthy" { #expect(outcome.up(other), "\(other): \(outcome.summary)") }
    }

    // MARK: FakeConsul against the documented shapes

    struct ShapeCase: Sendable, CustomTestStringConvertible {
        let file: String
        let method: String
        let path: String
        /// Fields the sample has for a reason that does not apply to the fake's objects.
        let ignoring: Set<String>
        /// Fields real agents send that the (older, minimal) sample lacks.
        let extra: Set<String>
        let nullable: Set<String>
        let maps: Set<String>
        /// An object keyed by name (agent/checks): compare its entries' shape.
        let keyed: Bool
        var testDescription: String { "\(method) \(path) vs \(file)" }

        init(_ file: String, _ method: String, _ path: String, ignoring: Set<String> = [], extra: Set<String> = [],
             nullable: Set<String> = [], maps: Set<String> = [], keyed: Bool = false) {
            (self.file, self.method, self.path, self.ignoring, self.extra, self.nullable, self.maps, self.keyed)
                = (file, method, path, ignoring, extra, nullable, maps, keyed)
        }
    }

    static let checkExtras: Set<String> = ["Type", "Interval", "Timeout", "ExposedPort", "Definition", "CreateIndex", "ModifyIndex"]

    static let shapeCases: [ShapeCase] = [
        ShapeCase("status/leader-200.http", "GET", "/v1/status/leader"),
        ShapeCase("status/peers-200.http", "GET", "/v1/status/peers"),
        ShapeCase("operator/autopilot-health-200.http", "GET", "/v1/operator/autopilot/health"),
        ShapeCase("kv/put-200-true.http", "PUT", "/v1/kv/shape/key"),
        // Session is only present while a session holds the key's lock.
        ShapeCase("kv/get-200.http", "GET", "/v1/kv/shape/key", ignoring: ["[].Session"]),
        ShapeCase("kv/delete-200-true.http", "DELETE", "/v1/kv/shape/key"),
        // The sample is a connect-proxy (Kind, Proxy) on Enterprise (Namespace); the fake's services are plain CE services.
        ShapeCase("agent/service-get-200.http", "GET", "/v1/agent/service/shape-1", ignoring: ["Kind", "Proxy", "Namespace"],
                  nullable: ["Tags", "Meta"], maps: ["Meta"]),
        ShapeCase("catalog/service-200.http", "GET", "/v1/catalog/service/shape", ignoring: ["[].Namespace"],
                  maps: ["[].NodeMeta", "[].ServiceMeta"]),
        ShapeCase("agent/checks-200.http", "GET", "/v1/agent/checks", extra: checkExtras, keyed: true),
        // The health endpoints' checks: the fake's agent-only fields are dropped, Type/Definition/indexes stay (as in agent/health-service-id-503-critical.http).
        ShapeCase("health/state-200.http", "GET", "/v1/health/state/passing", ignoring: ["[].Namespace"],
                  extra: ["[].Type", "[].Definition", "[].CreateIndex", "[].ModifyIndex"]),
    ]

    @Test("FakeConsul answers each endpoint the probers use with the documented status, content type, fields and types",
          arguments: shapeCases)
    func test_fakeConsul_matchesDocumentedShape(_ shape: ShapeCase) async throws {
        let recorded = try Self.transcript(shape.file)
        let fake = FakeConsul()
        try fake.start()
        fake.seedService("shape", id: "shape-1", port: 8080, tags: ["primary"])
        fake.state.withLock { $0.kv["shape/key"] = FakeConsul.KVEntry(value: Array("test".utf8)) }
        let url = fake.url + shape.path
        let answer = try await BlockingExecutor.shared.run { Result { try HTTPFetch.get(url, method: shape.method) } }.get()
        await fake.stopOffPool()
        #expect(answer.status == recorded.status)
        #expect(answer.headers["content-type"]?.hasPrefix(recorded.header("Content-Type") ?? "?") == true,
                "\(answer.headers["content-type"] ?? "none") vs \(recorded.header("Content-Type") ?? "none")")
        var want = try #require(recorded.json, "recorded body is JSON")
        var have = try #require(JSONValue.parse(Array(answer.body)), "fake body is JSON: \(answer.text)")
        if shape.keyed {
            want = try #require(want.object?.values.first)
            have = try #require(have.object?.values.first)
        }
        let problems = JSONShape.differences(recorded: want, fake: have, ignoring: shape.ignoring, extra: shape.extra,
                                             nullable: shape.nullable, maps: shape.maps)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("FakeConsul's agent health by id: documented 503 status, object shape with capitalised TaggedAddresses, text form; by name an array")
    func test_fakeConsul_agentHealthMatchesDocumented() async throws {
        let recorded = try Self.transcript("agent/health-service-id-503-critical.http")
        let text = try Self.transcript("agent/health-service-id-text-503.http")
        let fake = FakeConsul()
        try fake.start()
        fake.seedService("web", id: "web2", port: 80, tags: ["rails"], status: "critical")
        let base = fake.url
        let (json, plain, byName) = try await BlockingExecutor.shared.run {
            Result { (try HTTPFetch.get(base + "/v1/agent/health/service/id/web2"), try HTTPFetch.get(base + "/v1/agent/health/service/id/web2?format=text"),
                      try HTTPFetch.get(base + "/v1/agent/health/service/name/web")) }
        }.get()
        await fake.stopOffPool()
        #expect(json.status == recorded.status)
        let problems = JSONShape.differences(recorded: try #require(recorded.json), fake: try #require(JSONValue.parse(Array(json.body))),
                                             ignoring: ["Service.Namespace", "Checks[].Namespace"], maps: ["Service.Meta"])
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        // The doc shows what curl printed; whether a newline followed is not recorded.
        #expect(plain.status == text.status && plain.text.trimmingCharacters(in: .newlines) == text.text.trimmingCharacters(in: .newlines),
                "text form: \(plain.status) \(plain.text)")
        #expect(JSONValue.parse(Array(byName.body))?.array?.count == 1, "by name: an array")
    }

    @Test("FakeConsul's error and empty answers have the documented statuses and bodies")
    func test_fakeConsul_errorAnswers() async throws {
        let fake = FakeConsul()
        try fake.start()
        let base = fake.url
        let answers = try await BlockingExecutor.shared.run {
            Result { try ["/v1/kv/missing", "/v1/agent/service/nope", "/v1/nope", "/nope", "/v1/catalog/service/nope"].map { try HTTPFetch.get(base + $0) } }
        }.get()
        fake.breakage.withLock { $0 = .noLeader }
        let leaderless = try await BlockingExecutor.shared.run { Result { try HTTPFetch.get(base + "/v1/operator/autopilot/health") } }.get()
        fake.breakage.withLock { $0 = .uiDisabled }
        let ui = try await BlockingExecutor.shared.run { Result { try HTTPFetch.get(base + "/ui/") } }.get()
        await fake.stopOffPool()
        #expect(answers[0].status == 404 && answers[0].body.isEmpty, "missing key: 404, empty body")
        #expect(answers[0].headers["x-consul-index"] != nil, "missing key still carries X-Consul-Index")
        #expect(answers[1].status == 404 && answers[1].text.hasPrefix("unknown service ID: nope"))
        #expect(answers[2].status == 404 && answers[2].text.hasPrefix("Invalid URL path: not a recognized HTTP API endpoint"))
        #expect(answers[3].status == 404 && answers[3].text.hasPrefix("Invalid URL path: if attempting to use the HTTP API"))
        #expect(answers[4].status == 200 && answers[4].text == "[]", "unknown service name: empty array, not 404")
        #expect(leaderless.status == 500 && leaderless.text.hasPrefix("No cluster leader"))
        #expect(ui.status == 404 && ui.text.contains("ensure the path starts with '/v1/'"), "UI disabled: /ui/ falls to the index 404")
    }
}
