import Foundation
import Testing
@testable import InfraprobeCore

@Suite("HTTP prober configuration")
struct HTTPProberConfigTests {
    func parse(_ kind: String, _ settings: [String]) throws -> InfraprobeConfig {
        let yaml = "targets:\n  t:\n    prober: \(kind)\n" + settings.map { "    \($0)\n" }.joined()
        return try ConfigLoader(environment: ProbeHarness.environment).parse(yaml: yaml, file: "t.yml", baseDirectory: URL(fileURLWithPath: "/tmp"))
    }

    func error(_ kind: String, _ settings: [String]) -> String {
        do {
            _ = try parse(kind, settings)
            return ""
        } catch {
            return String(describing: error)
        }
    }

    @Test("all seven probers are registered (six services + pipeline)")
    func test_registry() {
        #expect(ProberRegistry.standard.kinds == ["arangodb", "consul", "grafana", "otel_collector", "pipeline", "redis", "tempo"])
    }

    @Test("typos, half TLS settings, token plus password, and non-HTTP URLs are rejected with the key named")
    func test_rejectsBadSettings() {
        #expect(error("consul", ["url: http://127.0.0.1:8500", "tokn: x"]).contains("targets.t.tokn"))
        #expect(error("grafana", ["url: http://g:3000", "tls:", "  cert_file: /c.pem"]).contains("key_file"))
        #expect(error("grafana", ["url: http://g:3000", "token: a", "username: u", "password: p"]).contains("token"))
        #expect(error("arangodb", ["url: ftp://db:8529"]).contains("targets.t.url"))
        #expect(error("arangodb", ["url: http://db:8529", "username: root"]).contains("password"))
        #expect(error("otel_collector", ["health_url: http://c:13133"]).contains("otlp_url"))
        #expect(error("tempo", ["url: http://t:3200", "components: [trace_query, nope]"]).contains("nope"))
        #expect(error("consul", ["url: http://c:8500", "ui_path: http://elsewhere/ui/"]).contains("targets.t.ui_path: expected a path on the agent"))
    }

    @Test("a request path can never leave the endpoint's base URL")
    func test_requestPaths_stayUnderTheBaseURL() {
        let endpoint = HTTPEndpoint(client: .shared, baseURL: "http://10.0.0.1:8500/")
        #expect(endpoint.resolve("/ui/") == "http://10.0.0.1:8500/ui/")
        #expect(endpoint.resolve("/x?next=http://evil/") == "http://10.0.0.1:8500/x?next=http://evil/")
        // The configured trailing slash is kept (a probed-as-is health path needs it), so a path without a leading slash follows it.
        #expect(endpoint.resolve("http://evil/") == "http://10.0.0.1:8500/http://evil/", "appended, never taken as a URL of its own")
        #expect(endpoint.resolve("") == "http://10.0.0.1:8500/", "an endpoint probed as configured keeps its trailing slash")
    }

    @Test("host:port gets http://, Tempo's OTLP URL defaults to port 4318, secrets stay redacted")
    func test_defaults() throws {
        let config = try parse("tempo", ["url: 127.0.0.1:3200", "token: hunter2"])
        let prober = try #require(config.targets.first?.prober as? TempoProber)
        #expect(prober.api.baseURL == "http://127.0.0.1:3200")
        #expect(prober.otlp.baseURL == "http://127.0.0.1:4318")
        #expect(!config.redactedYAML().contains("hunter2"))
        #expect(config.redactedYAML().contains("<secret>"))
    }
}
