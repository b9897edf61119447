import Foundation
import Testing
@testable import InfraprobeCore

/// The shipped examples stay loadable (paths to secrets and certificates swapped for temp files).
@Suite("Example configs")
struct ExampleConfigTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func test_exampleInfraprobeYml_loads_withModules() async throws {
        var text = try String(contentsOf: Self.repo.appendingPathComponent("examples/infraprobe.yml"), encoding: .utf8)
        let secret = try ProbeHarness.secretFile("example-secret")
        let ca = try await TLSFixtures.make()
        defer { ca.remove() }
        text = text.replacingOccurrences(of: #"/etc/infraprobe/[a-z0-9.-]+\.(pass|token)"#, with: secret, options: .regularExpression)
            .replacingOccurrences(of: "/etc/infraprobe/internal-ca.pem", with: ca.path("ca.pem"))
        let config = try Probe.config(text)
        #expect(config.targets.count == 7)
        #expect(config.modules.map(\.name) == ["redis_cache", "tempo_cluster", "otel_gateway"])
        let tempo = try #require(config.module(named: "tempo_cluster"))
        #expect(tempo.allows(ModuleTarget("tempo-3.internal")!) && !tempo.allows(ModuleTarget("tempo.example.com")!))
        let spec = try tempo.target(for: ModuleTarget("tempo-3.internal")!)
        #expect(spec.redactedSettings.contains(RedactedSetting(key: "otlp_url", value: "http://tempo-3.internal:4318")))
    }

    @Test func test_exampleWebConfig_loads_andItsHashVerifies() async throws {
        let pki = try await TLSFixtures.make()
        defer { pki.remove() }
        let text = try String(contentsOf: Self.repo.appendingPathComponent("examples/web-config.yml"), encoding: .utf8)
            .replacingOccurrences(of: "/etc/infraprobe/tls/server.pem", with: pki.path("server.pem"))
            .replacingOccurrences(of: "/etc/infraprobe/tls/server.key", with: pki.path("server.key"))
            .replacingOccurrences(of: "/etc/infraprobe/tls/clients-ca.pem", with: pki.path("ca.pem"))
        let config = try WebConfig.parse(yaml: text, file: "web-config.yml", baseDirectory: pki.directory)
        #expect(config.clientAuth == .requireAndVerifyClientCert)
        #expect(config.tls != nil)
        #expect(await BasicAuth().verify(user: "prometheus", password: "change-me", users: config.basicAuthUsers))
    }
}
