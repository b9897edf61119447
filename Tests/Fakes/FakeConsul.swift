import Foundation
import InfraprobeCore

/// A Consul agent as `reference/service-apis.md` §1 describes it: plain-text errors,
/// empty 200 bodies on agent writes, base64 KV values, 404-with-empty-body for missing keys,
/// autopilot 200/429, ACL token checks with the 403 `Permission denied` text.
final class FakeConsul: FakeService, @unchecked Sendable {
    enum Break: Sendable, Equatable {
        case none
        case noLeader
        case autopilotUnhealthy
        /// KV PUT is accepted, but reads return another value.
        case kvReadsOtherValue
        /// Registration is accepted locally but never reaches the catalog.
        case catalogNeverShowsService
        /// check/pass answers 200 but the check stays critical.
        case ttlPassIgnored
        case uiDisabled
    }

    struct State: Equatable {
        var kv: [String: [UInt8]] = [:]
        var services: [String: JSONValue] = [:]
        var checks: [String: JSONValue] = [:]
    }

    let state = Locked(State())
    let breakage = Locked(Break.none)
    /// When set, every ACL-protected endpoint requires this token.
    let token: String?

    init(token: String? = nil) {
        self.token = token
        super.init(roles: ["http"])
        // A pre-existing, unrelated check the cluster-wide counts must see.
        state.withLock {
            $0.checks["serfHealth"] = ["CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "passing", "ServiceID": ""]
            $0.checks["web-critical"] = ["CheckID": "web-critical", "Name": "web", "Status": "critical", "ServiceID": "web"]
        }
    }

    var url: String { url("http") }

    private func denied(_ permission: String) -> HTTPResponse {
        .text(403, "Permission denied: token with AccessorID 'a1b2' lacks permission '\(permission)' on \"infraprobe\"")
    }

    private func authorized(_ request: HTTPRequest) -> Bool {
        guard let token else { return true }
        let sent = request.header("x-consul-token") ?? request.header("authorization").map { String($0.dropFirst("Bearer ".count)) }
        return sent == token
    }

    override func route(role: String, request: HTTPRequest) -> HTTPResponse {
        let path = request.path
        let broken = breakage.current
        let method = request.method
        // Read-only status endpoints need no ACL.
        if path == "/v1/status/leader" {
            return .json(200, broken == .noLeader ? "" : "127.0.0.1:8300")
        }
        if path == "/v1/status/peers" {
            return .json(200, broken == .noLeader ? [] : ["127.0.0.1:8300", "127.0.0.2:8300", "127.0.0.3:8300"])
        }
        if path == "/ui/" {
            if broken == .uiDisabled {
                return .text(200, "Consul Agent: UI disabled. To enable, set ui_config.enabled=true in the agent configuration and restart.")
            }
            return HTTPResponse(status: 200, contentType: "text/html; charset=utf-8",
                                body: "<!DOCTYPE html><html><head><title>Consul by HashiCorp</title></head><body></body></html>")
        }
        if path == "/" { return HTTPResponse(status: 301, body: "", headers: [("Location", "/ui/")]) }
        guard path.hasPrefix("/v1/") else {
            return .text(404, "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'")
        }
        guard authorized(request) else { return token.map { _ in denied("operator:read") } ?? .text(403, "ACL not found") }

        switch (method, path) {
        case ("GET", "/v1/agent/self"):
            return .json(200, ["Config": ["Datacenter": "dc1", "NodeName": "fake", "Server": true, "Version": "1.20.1"],
                               "Member": ["Name": "fake", "Status": 1]])
        case ("GET", "/v1/operator/autopilot/health"):
            let healthy = broken != .autopilotUnhealthy
            return .json(healthy ? 200 : 429, [
                "Healthy": .bool(healthy), "FailureTolerance": healthy ? 1 : 0,
                "Servers": [["ID": "e349", "Name": "node1", "Address": "127.0.0.1:8300", "SerfStatus": "alive", "Leader": true,
                             "LastContact": "0s", "Healthy": true, "Voter": true],
                            ["ID": "e350", "Name": "node2", "Address": "127.0.0.2:8300", "SerfStatus": healthy ? "alive" : "failed",
                             "Leader": false, "LastContact": "27.2ms", "Healthy": .bool(healthy), "Voter": true]],
            ])
        case (_, _) where path.hasPrefix("/v1/kv/"):
            return kv(method: method, key: String(path.dropFirst("/v1/kv/".count)), request: request)
        case ("PUT", "/v1/agent/service/register"):
            guard let body = request.json, let id = body["ID"]?.string ?? body["Name"]?.string, let name = body["Name"]?.string else {
                return .text(400, "Missing service name")
            }
            state.withLock { state in
                state.services[id] = ["ID": .string(id), "Service": .string(name), "Tags": body["Tags"] ?? [], "Meta": body["Meta"] ?? [:],
                                      "Port": body["Port"] ?? 0, "Address": body["Address"] ?? "", "Datacenter": "dc1"]
                if let check = body["Check"], let checkID = check["CheckID"]?.string {
                    state.checks[checkID] = ["CheckID": .string(checkID), "Name": check["Name"] ?? "", "Status": "critical",
                                             "ServiceID": .string(id), "ServiceName": .string(name), "Type": "ttl", "Output": ""]
                }
            }
            return .empty(200)
        case ("GET", _) where path.hasPrefix("/v1/agent/service/"):
            let id = String(path.dropFirst("/v1/agent/service/".count))
            guard let service = state.current.services[id] else { return .text(404, "unknown service ID: \(id)") }
            return .json(200, service)
        case ("PUT", _) where path.hasPrefix("/v1/agent/service/deregister/"):
            let id = String(path.dropFirst("/v1/agent/service/deregister/".count))
            let removed = state.withLock { state -> Bool in
                guard state.services.removeValue(forKey: id) != nil else { return false }
                state.checks = state.checks.filter { $0.value["ServiceID"]?.string != id }
                return true
            }
            return removed ? .empty(200)
                : .text(404, "Unknown service ID \"\(id)\". Ensure that the service ID is passed, not the service name.")
        case ("GET", "/v1/catalog/services"):
            var names: [String: JSONValue] = ["consul": []]
            if broken != .catalogNeverShowsService {
                for service in state.current.services.values { names[service["Service"]?.string ?? ""] = service["Tags"] ?? [] }
            }
            return .json(200, .object(names))
        case ("GET", _) where path.hasPrefix("/v1/catalog/service/"):
            let name = String(path.dropFirst("/v1/catalog/service/".count))
            guard broken != .catalogNeverShowsService else { return .json(200, []) }
            let matching = state.current.services.values.filter { $0["Service"]?.string == name }.map { service -> JSONValue in
                ["ID": "40e4a748", "Node": "fake", "Address": "127.0.0.1", "Datacenter": "dc1", "ServiceID": service["ID"] ?? "",
                 "ServiceName": .string(name), "ServiceTags": service["Tags"] ?? [], "ServicePort": service["Port"] ?? 0,
                 "ServiceMeta": service["Meta"] ?? [:], "CreateIndex": 51, "ModifyIndex": 51]
            }
            return .json(200, .array(matching))
        case ("PUT", _) where path.hasPrefix("/v1/agent/check/pass/"):
            let id = String(path.dropFirst("/v1/agent/check/pass/".count))
            let known = state.withLock { state -> Bool in
                guard var check = state.checks[id]?.object else { return false }
                if broken != .ttlPassIgnored {
                    check["Status"] = "passing"
                    check["Output"] = .string(request.query["note"] ?? "")
                }
                state.checks[id] = .object(check)
                return true
            }
            return known ? .empty(200)
                : .text(404, "Unknown check ID \"\(id)\". Ensure that the check ID is passed, not the check name.")
        case ("GET", _) where path.hasPrefix("/v1/health/service/"):
            return healthService(String(path.dropFirst("/v1/health/service/".count)), passingOnly: request.query["passing"] != nil)
        case ("GET", "/v1/agent/checks"):
            return .json(200, .object(state.current.checks))
        case ("GET", _) where path.hasPrefix("/v1/health/state/"):
            let wanted = String(path.dropFirst("/v1/health/state/".count))
            guard ["passing", "warning", "critical", "any"].contains(wanted) else { return .text(400, "Missing check state") }
            let checks = state.current.checks.values.filter { wanted == "any" || $0["Status"]?.string == wanted }
            return .json(200, .array(Array(checks)))
        default:
            return .text(404, "Invalid URL path: not a recognized HTTP API endpoint")
        }
    }

    /// Registers an instance of `name` at `address:port` with one check in `status` (as an agent
    /// with a service definition file would), e.g. pointing at a real listener or a dead port.
    func seedService(_ name: String, id: String, address: String = "127.0.0.1", port: Int, tags: [String] = [], status: String = "passing") {
        state.withLock { state in
            state.services[id] = ["ID": .string(id), "Service": .string(name), "Tags": .array(tags.map { .string($0) }), "Meta": [:],
                                  "Port": .number(Double(port)), "Address": .string(address), "Datacenter": "dc1"]
            state.checks["service:\(id)"] = ["CheckID": .string("service:\(id)"), "Name": .string("Service '\(name)' check"),
                                              "Status": .string(status), "ServiceID": .string(id), "ServiceName": .string(name),
                                              "Type": "tcp", "Output": ""]
        }
    }

    /// `GET /v1/health/service/<name>[?passing]`: `[{"Node":{…},"Service":{…},"Checks":[…]}]`, `[]` when unknown;
    /// `passing` keeps only entries whose every check (node's serfHealth included) passes.
    private func healthService(_ name: String, passingOnly: Bool) -> HTTPResponse {
        let current = state.current
        let serf = current.checks["serfHealth"] ?? [:]
        let entries = current.services.values.filter { $0["Service"]?.string == name }
            .sorted { ($0["ID"]?.string ?? "") < ($1["ID"]?.string ?? "") }
            .compactMap { service -> JSONValue? in
                let id = service["ID"]?.string ?? ""
                let checks = [serf] + current.checks.values.filter { $0["ServiceID"]?.string == id }
                if passingOnly && !checks.allSatisfy({ $0["Status"]?.string == "passing" }) { return nil }
                return [
                    "Node": ["ID": "40e4a748-2192-161a-0510-9bf59fe950b5", "Node": "fake", "Address": "127.0.0.1", "Datacenter": "dc1",
                             "TaggedAddresses": ["lan": "127.0.0.1", "wan": "127.0.0.1"], "Meta": [:]],
                    "Service": ["ID": .string(id), "Service": .string(name), "Tags": service["Tags"] ?? [], "Address": service["Address"] ?? "",
                                "Meta": service["Meta"] ?? [:], "Port": service["Port"] ?? 0, "Weights": ["Passing": 1, "Warning": 1]],
                    "Checks": .array(checks),
                ]
            }
        return .json(200, .array(entries))
    }

    private func kv(method: String, key: String, request: HTTPRequest) -> HTTPResponse {
        switch method {
        case "PUT":
            let created = state.withLock { state -> Bool in
                if request.query["cas"] == "0" && state.kv[key] != nil { return false }
                state.kv[key] = request.body
                return true
            }
            return .json(200, .bool(created))
        case "GET":
            guard var value = state.current.kv[key] else { return .empty(404) }
            if breakage.current == .kvReadsOtherValue { value = Array("someone-else".utf8) }
            if request.query["raw"] != nil {
                return HTTPResponse(status: 200, contentType: "text/plain", body: String(decoding: value, as: UTF8.self))
            }
            return .json(200, [["LockIndex": 0, "Key": .string(key), "Flags": 0,
                                "Value": value.isEmpty ? .null : .string(Data(value).base64EncodedString()),
                                "CreateIndex": 100, "ModifyIndex": 200]])
        case "DELETE":
            state.withLock { _ = $0.kv.removeValue(forKey: key) }
            return .json(200, true)
        default:
            return HTTPResponse(status: 405, body: "method \(method) not allowed\n", headers: [("Allow", "OPTIONS,GET,PUT,DELETE")])
        }
    }
}
