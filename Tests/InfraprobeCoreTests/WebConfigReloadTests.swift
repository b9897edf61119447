import Foundation
import Logging
import Testing
@testable import InfraprobeCore

/// The web config is re-read when it or a file it names changes, as exporter-toolkit re-reads it
/// per connection: certificates rotate without a restart, users change at once, and a broken new
/// file keeps the old one, logged with file, line and key, and counted.
@Suite("Web config reload", .serialized)
struct WebConfigReloadTests {
    final class CapturedLog: @unchecked Sendable {
        let lines = Locked<[String]>([])
        var text: String { lines.current.joined(separator: "\n") }
    }

    struct CapturingHandler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            log.lines.withLock { $0.append("\(event.level) \(event.message) \(fields)") }
        }
    }

    final class Exporter: @unchecked Sendable {
        let runtime: ExporterRuntime
        let directory: URL
        let log = CapturedLog()
        var webFile: URL { directory.appendingPathComponent("web.yml") }

        /// `server.pem`/`server.key` from `pki`, copied next to web.yml, which names them relative.
        init(pki: TLSFixtures, extra: String = "", pollInterval: Duration = .milliseconds(100)) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("infraprobe-webreload-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let configFile = directory.appendingPathComponent("infraprobe.yml")
            try "targets: {}\n".write(to: configFile, atomically: true, encoding: .utf8)
            try Self.install(pki, into: directory)
            try Self.tlsConfig(extra).write(to: directory.appendingPathComponent("web.yml"), atomically: true, encoding: .utf8)
            var settings = ExporterRuntime.Settings(configFile: configFile.path, listen: ListenAddress("127.0.0.1:0")!)
            settings.webConfig = try WebConfig.load(file: directory.appendingPathComponent("web.yml").path)
            settings.webConfigFile = directory.appendingPathComponent("web.yml").path
            settings.webConfigPollInterval = pollInterval
            let log = self.log
            runtime = try ExporterRuntime(settings: settings, logger: Logger(label: "test") { _ in CapturingHandler(log: log) })
            try runtime.start()
        }

        static func tlsConfig(_ extra: String) -> String {
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n" + extra
        }

        /// Each file replaced by a rename, as certificate managers do.
        static func install(_ pki: TLSFixtures, into directory: URL) throws {
            for name in ["server.key", "server.pem"] {
                let staged = directory.appendingPathComponent(".\(name).new")
                try? FileManager.default.removeItem(at: staged)
                try FileManager.default.copyItem(atPath: pki.path(name), toPath: staged.path)
                _ = rename(staged.path, directory.appendingPathComponent(name).path)
            }
        }

        var url: String { "https://127.0.0.1:\(runtime.server.port)" }

        func metric(_ line: String, ca: String, credentials: [String] = []) async throws -> Double? {
            let response = try await Curl.run(["--cacert", ca] + credentials + [url + "/metrics"])
            return response.body.split(separator: "\n").first { $0.hasPrefix(line + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }

        deinit {
            runtime.stop()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// Polls `condition` every 100 ms for up to 10 s.
    static func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<100 {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    @Test func test_webConfigReload_rotatedCertificate_isServedToNewHandshakes_withoutRestart() async throws {
        let first = try await TLSFixtures.make(), second = try await TLSFixtures.make()
        defer { first.remove(); second.remove() }
        let exporter = try Exporter(pki: first)
        let port = exporter.runtime.server.port
        #expect(try await Curl.run(["--cacert", first.path("ca.pem"), exporter.url + "/-/healthy"]).status == 200)
        try Exporter.install(second, into: exporter.directory)
        let rotated = try await Self.eventually {
            try await Curl.run(["--cacert", second.path("ca.pem"), exporter.url + "/-/healthy"]).status == 200
        }
        #expect(rotated, "the rotated certificate was not served: \(exporter.log.text)")
        #expect(exporter.runtime.server.port == port, "same port, no restart")
        let old = try await Curl.run(["--cacert", first.path("ca.pem"), exporter.url + "/-/healthy"])
        #expect(old.exitCode == 60, "the old certificate is no longer served: \(old.stderr)")
        let successes = try await exporter.metric("infraprobe_web_config_reloads_total{result=\"success\"}", ca: second.path("ca.pem"))
        #expect((successes ?? 0) >= 1)
        #expect(try await exporter.metric("infraprobe_web_config_last_reload_successful", ca: second.path("ca.pem")) == 1)
        #expect(exporter.log.text.contains("web config reloaded"))
    }

    @Test func test_webConfigReload_brokenFile_keepsTheOldConfig_logsFileLineKey_andCounts() async throws {
        let pki = try await TLSFixtures.make()
        defer { pki.remove() }
        let exporter = try Exporter(pki: pki)
        let ca = pki.path("ca.pem")
        try "tls_server_config:\n  cert_file: server.pem\n  key_fil: server.key\n".write(to: exporter.webFile, atomically: true, encoding: .utf8)
        let counted = try await Self.eventually {
            try await exporter.metric("infraprobe_web_config_reloads_total{result=\"failure\"}", ca: ca) == 1
        }
        #expect(counted, "the failed reload was not counted")
        #expect(try await exporter.metric("infraprobe_web_config_last_reload_successful", ca: ca) == 0)
        #expect(exporter.log.text.contains("web.yml:3: tls_server_config.key_fil: unknown key"), "\(exporter.log.text)")
        #expect(try await Curl.run(["--cacert", ca, exporter.url + "/metrics"]).status == 200, "the old config is still served")
        // Polling the same broken content again is not another failure.
        try await Task.sleep(for: .milliseconds(400))
        #expect(try await exporter.metric("infraprobe_web_config_reloads_total{result=\"failure\"}", ca: ca) == 1)

        // Fixed, and users added: they apply to the next request, no restart.
        let hash = Curl.bcrypt("pw")
        try Exporter.tlsConfig("basic_auth_users:\n  prometheus: '\(hash)'\n").write(to: exporter.webFile, atomically: true, encoding: .utf8)
        let protected = try await Self.eventually {
            try await Curl.run(["--cacert", ca, exporter.url + "/metrics"]).status == 401
        }
        #expect(protected, "the new users did not apply: \(exporter.log.text)")
        let credentials = ["--user", "prometheus:pw"]
        #expect(try await exporter.metric("infraprobe_web_config_last_reload_successful", ca: ca, credentials: credentials) == 1)
        #expect(try await exporter.metric("infraprobe_web_config_reloads_total{result=\"success\"}", ca: ca, credentials: credentials) == 1)
    }

    @Test func test_webConfigReload_onReloadEndpoint_appliesAtOnce_withoutWaitingForThePoll() async throws {
        let pki = try await TLSFixtures.make()
        defer { pki.remove() }
        let exporter = try Exporter(pki: pki, pollInterval: .seconds(3600))
        let ca = ["--cacert", pki.path("ca.pem")]
        try Exporter.tlsConfig("basic_auth_users:\n  prometheus: '\(Curl.bcrypt("pw"))'\n").write(to: exporter.webFile, atomically: true, encoding: .utf8)
        #expect(try await Curl.run(ca + [exporter.url + "/metrics"]).status == 200, "not applied before the reload")
        // Authorized under the config in force when it arrived (no users yet); it applies the new one.
        #expect(try await Curl.run(ca + ["-X", "POST", exporter.url + "/-/reload"]).status == 200)
        #expect(try await Curl.run(ca + [exporter.url + "/metrics"]).status == 401, "the reload applied the new users")
        #expect(try await Curl.run(ca + ["--user", "prometheus:pw", exporter.url + "/metrics"]).status == 200)
    }

    /// exporter-toolkit's TestConfigReloading: web_config_noAuth.good.yml swapped for
    /// web_config_noAuth.good.blocking.yml (RequireAndVerifyClientCert) while serving.
    @Test func test_webConfigReload_upstreamBlockingSwap_refusesNewClientsWithoutCertificate() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("infraprobe-webswap-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // The fixtures name server.crt/server.key relative to their folder: link them next to the copy under test.
        for name in ["server.crt", "server.key"] {
            try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent(name).path,
                                                       withDestinationPath: WebConfigConformanceTests.fixture(name))
        }
        func fixtureText(_ name: String) throws -> String {
            let path = WebConfigConformanceTests.fixture(name)
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw Conformance.MissingMaterial(path: path) }
            return text
        }
        let webFile = directory.appendingPathComponent("web.yml")
        try fixtureText("web_config_noAuth.good.yml").write(to: webFile, atomically: true, encoding: .utf8)
        let configFile = directory.appendingPathComponent("infraprobe.yml")
        try "targets: {}\n".write(to: configFile, atomically: true, encoding: .utf8)
        var settings = ExporterRuntime.Settings(configFile: configFile.path, listen: ListenAddress("127.0.0.1:0")!)
        settings.webConfig = try WebConfig.load(file: webFile.path)
        settings.webConfigFile = webFile.path
        settings.webConfigPollInterval = .milliseconds(100)
        let runtime = try ExporterRuntime(settings: settings)
        try runtime.start()
        defer { runtime.stop() }
        let request = ["--cacert", WebConfigConformanceTests.fixture("server.crt"), "https://127.0.0.1:\(runtime.server.port)/metrics"]
        #expect(try await Curl.run(request).status == 200)
        try fixtureText("web_config_noAuth.good.blocking.yml").write(to: webFile, atomically: true, encoding: .utf8)
        let blocked = try await Self.eventually { try await Curl.run(request).status == 403 }
        #expect(blocked, "a client without a certificate must be refused after the swap")
    }

    @Test func test_webConfigReload_mismatchedKey_isRefused_andTheOldCertificateServed() async throws {
        let first = try await TLSFixtures.make(), second = try await TLSFixtures.make()
        defer { first.remove(); second.remove() }
        let exporter = try Exporter(pki: first)
        // A certificate whose key is another: GnuTLS would refuse it at the handshake.
        try FileManager.default.removeItem(at: exporter.directory.appendingPathComponent("server.pem"))
        try FileManager.default.copyItem(atPath: second.path("server.pem"), toPath: exporter.directory.appendingPathComponent("server.pem").path)
        let counted = try await Self.eventually {
            try await exporter.metric("infraprobe_web_config_reloads_total{result=\"failure\"}", ca: first.path("ca.pem")) == 1
        }
        #expect(counted, "\(exporter.log.text)")
        #expect(exporter.log.text.contains("failed to load X509KeyPair"), "\(exporter.log.text)")
        #expect(try await Curl.run(["--cacert", first.path("ca.pem"), exporter.url + "/-/healthy"]).status == 200)
    }
}
