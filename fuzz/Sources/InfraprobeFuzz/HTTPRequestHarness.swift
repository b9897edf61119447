import Foundation
import InfraprobeCore
import Logging

/// A request as libmicrohttpd hands it to the handler (method, path, decoded query, headers,
/// basic-auth credentials), through WebApp's real routing, auth and probing. Targets answer
/// immediately: Redis at a socket path that does not exist, HTTP services through an in-process
/// client that refuses every connection, so nothing leaves the process.
///
/// Input: line 1 the method, line 2 the path, then `?key=value` query parameters,
/// `@user:password` credentials (which also switch basic auth on) and `Name: value` headers.
enum HTTPRequestHarness {
    static let configYAML = """
        timeout: 2s
        targets:
          redis-local:
            prober: redis
            address: unix:/nonexistent/infraprobe-fuzz.sock
          consul:
            prober: consul
            url: http://consul.fuzz.invalid:8500
            token: consul-secret
          grafana:
            prober: grafana
            url: http://grafana.fuzz.invalid:3000
            username: admin
            password: grafana-secret
        modules:
          redis_loopback:
            prober: redis
            allowed_targets: ["127.0.0.1:1", "[::1]:1"]
          tempo_cluster:
            prober: tempo
            url: "http://{host}:3200"
            otlp_url: "http://{host}:4318"
            allowed_targets: ["tempo-*.fuzz.invalid", "10.1.0.0/16"]
          consul_any:
            prober: consul
            allowed_targets: ["*.fuzz.invalid:8500"]
        """

    /// bcrypt (cost 4, the cheapest) of "secret".
    static let adminHash = "$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW"

    static let apps: (open: WebApp, guarded: WebApp) = {
        let environment = ProberEnvironment(instanceID: "fuzz", http: ProberAnswerHarness.offlineClient)
        let loader = ConfigLoader(environment: environment)
        let config = try! loader.parse(yaml: configYAML, file: "fuzz.yml", baseDirectory: ConfigHarness.baseDirectory)
        let quiet = Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() }
        let service = ProbeService(config: config, environment: environment, metrics: SelfMetrics(version: "fuzz", revision: "fuzz"),
                                   maxConcurrentProbes: 4, historyLimit: 10, logger: quiet)
        var guardedOptions = WebOptions()
        guardedOptions.security.basicAuthUsers = ["admin": adminHash]
        let reloader: WebApp.Reloader = { .success(()) }
        return (WebApp(service: service, reloader: reloader, logger: quiet),
                WebApp(service: service, options: guardedOptions, reloader: reloader, logger: quiet))
    }()

    static let harness = Harness(name: "http_request") { bytes in
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 2 else { return }
        var query: [String: String] = [:]
        var headers: [String: String] = [:]
        var credentials: (user: String, password: String)?
        for line in lines.dropFirst(2) {
            if line.hasPrefix("?") {
                let pair = line.dropFirst().split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = String(pair[0])
                if query[key] == nil { query[key] = pair.count > 1 ? String(pair[1]) : "" }
            } else if line.hasPrefix("@") {
                let pair = line.dropFirst().split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                credentials = (String(pair[0]), pair.count > 1 ? String(pair[1]) : "")
            } else if let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].lowercased()
                if headers[name] == nil { headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
            }
        }
        let request = HTTPRequest(method: lines[0], path: lines[1], query: query, headers: headers)
        let facts = ConnectionFacts(basicAuth: credentials, clientCertificate: nil)
        let app = credentials == nil ? apps.open : apps.guarded
        let response = runBlocking { await app.handle(request, facts) }
        guard (100...599).contains(response.status) else { fatalError("status \(response.status) is not an HTTP status") }
        let input = String(decoding: bytes, as: UTF8.self), body = String(decoding: response.body, as: UTF8.self)
        for secret in ["consul-secret", "grafana-secret", adminHash] where body.contains(secret) && !input.contains(secret) {
            fatalError("a configured secret reached a response body")
        }
    }
}
