import Foundation
import Testing
@testable import InfraprobeCore

/// `--web.config.file`: TLS served by libmicrohttpd/GnuTLS, client certificates, bcrypt basic auth.
@Suite("Web security", .serialized)
struct WebSecurityTests {
    final class Exporter: @unchecked Sendable {
        let runtime: ExporterRuntime
        let directory: URL

        init(webConfig yaml: String, tls: TLSFixtures? = nil) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("infraprobe-web-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let configFile = directory.appendingPathComponent("infraprobe.yml")
            try "targets: {}\n".write(to: configFile, atomically: true, encoding: .utf8)
            let webFile = directory.appendingPathComponent("web.yml")
            try yaml.write(to: webFile, atomically: true, encoding: .utf8)
            var settings = ExporterRuntime.Settings(configFile: configFile.path, listen: ListenAddress("127.0.0.1:0")!)
            settings.webConfig = try WebConfig.load(file: webFile.path)
            runtime = try ExporterRuntime(settings: settings)
            try runtime.start()
        }

        var port: UInt16 { runtime.server.port }

        deinit {
            runtime.stop()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    static func tlsConfig(_ pki: TLSFixtures, extra: String = "") -> String {
        """
        tls_server_config:
          cert_file: \(pki.path("server.pem"))
          key_file: \(pki.path("server.key"))
        \(extra.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        """
    }

    @Test func test_tls_servesHTTPS_andRefusesPlainHTTP() async throws {
        let pki = try await TLSFixtures.make()
        defer { pki.remove() }
        let exporter = try Exporter(webConfig: Self.tlsConfig(pki))
        let https = try await Curl.run(["--cacert", pki.path("ca.pem"), "https://127.0.0.1:\(exporter.port)/metrics"])
        #expect(https.status == 200, "\(https.stderr)")
        #expect(https.body.contains("infraprobe_build_info"))
        let plain = try await Curl.run(["http://127.0.0.1:\(exporter.port)/metrics"])
        #expect(plain.status != 200)
        let untrusted = try await Curl.run(["https://127.0.0.1:\(exporter.port)/metrics"])
        #expect(untrusted.exitCode == 60, "curl must reject a server certificate it does not trust: \(untrusted.stderr)")
    }

    @Test func test_tls_minVersion13_rejectsTLS12Clients() async throws {
        let pki = try await TLSFixtures.make()
        defer { pki.remove() }
        let exporter = try Exporter(webConfig: Self.tlsConfig(pki, extra: "min_version: TLS13"))
        let url = "https://127.0.0.1:\(exporter.port)/-/healthy"
        let tls13 = try await Curl.run(["--cacert", pki.path("ca.pem"), "--tlsv1.3", url])
        #expect(tls13.status == 200, "\(tls13.stderr)")
        let tls12 = try await Curl.run(["--cacert", pki.path("ca.pem"), "--tls-max", "1.2", url])
        #expect(tls12.status == 0 && tls12.exitCode != 0, "a TLS 1.2-only client must fail the handshake")
    }

    @Test func test_clientCert_requireAndVerify() async throws {
        let pki = try await TLSFixtures.make()
        defer { pki.remove() }
        let exporter = try Exporter(webConfig: Self.tlsConfig(pki, extra: """
            client_ca_file: \(pki.path("ca.pem"))
            client_auth_type: RequireAndVerifyClientCert
            """))
        let url = "https://127.0.0.1:\(exporter.port)/metrics"
        let ca = ["--cacert", pki.path("ca.pem")]
        let good = try await Curl.run(ca + ["--cert", pki.path("client.pem"), "--key", pki.path("client.key"), url])
        #expect(good.status == 200, "\(good.stderr)")
        let none = try await Curl.run(ca + [url])
        #expect(none.status == 403, "no client certificate: \(none.status) \(none.stderr)")
        let rogue = try await Curl.run(ca + ["--cert", pki.path("rogue.pem"), "--key", pki.path("rogue.key"), url])
        #expect(rogue.status == 403, "untrusted client certificate: \(rogue.status) \(rogue.stderr)")
    }

    @Test func test_clientCert_verifyIfGiven_andRequireAny() async throws {
        let pki = try await TLSFixtures.make()
        defer { pki.remove() }
        let ca = ["--cacert", pki.path("ca.pem")]
        let rogueCert = ["--cert", pki.path("rogue.pem"), "--key", pki.path("rogue.key")]
        do {
            let exporter = try Exporter(webConfig: Self.tlsConfig(pki, extra: "client_ca_file: \(pki.path("ca.pem"))\nclient_auth_type: VerifyClientCertIfGiven"))
            let url = "https://127.0.0.1:\(exporter.port)/metrics"
            #expect(try await Curl.run(ca + [url]).status == 200)
            #expect(try await Curl.run(ca + rogueCert + [url]).status == 403)
        }
        do {
            let exporter = try Exporter(webConfig: Self.tlsConfig(pki, extra: "client_ca_file: \(pki.path("ca.pem"))\nclient_auth_type: RequireAnyClientCert"))
            let url = "https://127.0.0.1:\(exporter.port)/metrics"
            #expect(try await Curl.run(ca + [url]).status == 403)
            #expect(try await Curl.run(ca + rogueCert + [url]).status == 200)
        }
    }

    @Test func test_basicAuth_goodBadMissingCredentials() async throws {
        let hash = Curl.bcrypt("s3cret:with\"quote")
        let exporter = try Exporter(webConfig: "basic_auth_users:\n  prometheus: '\(hash)'\n")
        let base = "http://127.0.0.1:\(exporter.port)"
        let good = try await Curl.run(["--user", "prometheus:s3cret:with\"quote", base + "/metrics"])
        #expect(good.status == 200)
        let wrongPassword = try await Curl.run(["--user", "prometheus:nope", base + "/metrics"])
        let unknownUser = try await Curl.run(["--user", "someone:s3cret:with\"quote", base + "/metrics"])
        let missing = try await Curl.run([base + "/config"])
        for response in [wrongPassword, unknownUser, missing] {
            #expect(response.status == 401)
            #expect(response.headers.lowercased().contains("www-authenticate: basic realm=\"infraprobe\""), "\(response.headers)")
            #expect(response.body == "Unauthorized\n", "the body must not say which part was wrong")
        }
        #expect(try await Curl.run([base + "/probe"]).status == 401, "probes need credentials too")
        #expect(try await Curl.run([base + "/-/healthy"]).status == 200, "/-/healthy stays open")
        let metrics = try await Curl.run(["--user", "prometheus:s3cret:with\"quote", base + "/metrics"])
        #expect(metrics.body.contains("infraprobe_http_requests_total{handler=\"/config\",code=\"401\"} 1"))
    }

    @Test func test_basicAuthOverTLS_withClientCert() async throws {
        let pki = try await TLSFixtures.make()
        defer { pki.remove() }
        let exporter = try Exporter(webConfig: Self.tlsConfig(pki, extra: "client_ca_file: \(pki.path("ca.pem"))\nclient_auth_type: RequireAndVerifyClientCert")
                                    + "\nbasic_auth_users:\n  p: '\(Curl.bcrypt("pw"))'\n")
        let args = ["--cacert", pki.path("ca.pem"), "--cert", pki.path("client.pem"), "--key", pki.path("client.key")]
        let url = "https://127.0.0.1:\(exporter.port)/config"
        #expect(try await Curl.run(args + ["--user", "p:pw", url]).status == 200)
        #expect(try await Curl.run(args + ["--user", "p:px", url]).status == 401)
    }

    @Test(arguments: [
        ("tls_server_config:\n  key_file: k\n", "tls_server_config.cert_file: missing one of cert or cert_file"),
        ("tls_server_config:\n  cert_file: /nonexistent.pem\n  key_file: k\n", "tls_server_config.cert_file: cannot read /nonexistent.pem"),
        ("basic_auth_users:\n  alice: plaintext\n", "basic_auth_users.alice: not a bcrypt hash"),
        ("basic_auth_users:\n  alice: $2b$99$abcdefghijklmnopqrstuu0123456789012345678901234567890\n", "basic_auth_users.alice: not a bcrypt hash"),
        ("basic_auth_user:\n  alice: x\n", "basic_auth_user: unknown key"),
        ("rate_limit:\n  interval: 1s\n  burts: 1\n", "rate_limit.burts: unknown key"),
    ])
    func test_badWebConfig_namesFileAndKey(yaml: String, expected: String) throws {
        #expect {
            try WebConfig.parse(yaml: yaml, file: "web.yml", baseDirectory: URL(fileURLWithPath: "/tmp"))
        } throws: { error in
            "\(error)".hasPrefix("web.yml:") && "\(error)".contains(expected)
        }
    }

    @Test func test_badWebConfig_clientAuthTypeAndVersions() async throws {
        let pki = try await TLSFixtures.make()
        defer { pki.remove() }
        func message(_ extra: String) -> String {
            do {
                _ = try WebConfig.parse(yaml: Self.tlsConfig(pki, extra: extra), file: "web.yml", baseDirectory: pki.directory)
                return "accepted"
            } catch { return "\(error)" }
        }
        #expect(message("client_ca_file: \(pki.path("ca.pem"))").contains("tls_server_config.client_ca_file: client CA's have been configured without a Client Auth Policy"))
        #expect(message("client_auth_type: Sometimes").contains("client_auth_type: invalid ClientAuth \"Sometimes\"; one of NoClientCert"))
        #expect(message("min_version: TLS14").contains("min_version: unknown TLS version: TLS14"))
        #expect(message("cipher_suites: [TLS_AES_128_GCM_SHA1]").contains("cipher_suites: unknown cipher: TLS_AES_128_GCM_SHA1"))
        #expect(message("curve_preferences: [CurveP222]").contains("curve_preferences: unknown curve: CurveP222"))
        #expect(message("min_version: TLS13") == "accepted")
        let config = try WebConfig.parse(yaml: Self.tlsConfig(pki), file: "web.yml", baseDirectory: pki.directory)
        #expect(config.tls?.priorities == "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE:%DEBUG_ALLOW_KEY_USAGE_VIOLATIONS")
        let suites = try WebConfig.parse(yaml: Self.tlsConfig(pki, extra: "cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA]\nmax_version: TLS12\ncurve_preferences: [X25519]\nprefer_server_cipher_suites: false"),
                                         file: "web.yml", baseDirectory: pki.directory)
        #expect(suites.tls?.priorities == "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-CBC:-MAC-ALL:+AEAD:+SHA1:-KX-ALL:+ECDHE-RSA:-GROUP-ALL:+GROUP-X25519:%DEBUG_ALLOW_KEY_USAGE_VIOLATIONS")
    }

    @Test func test_basicAuth_costAbove16_isAcceptedWithWarning_andItsLoginsRefusedUnhashed() async throws {
        let slow = "$2y$31$abcdefghijklmnopqrstuu0123456789012345678901234567890"
        let config = try WebConfig.parse(yaml: "basic_auth_users:\n  alice: '\(slow)'\n", file: "web.yml", baseDirectory: URL(fileURLWithPath: "/tmp"))
        #expect(config.warnings.map(\.description) == ["web.yml:2: basic_auth_users.alice: bcrypt cost 31 is outside 4…16: this user's logins are refused"])
        let started = ContinuousClock.now
        #expect(await BasicAuth().verify(user: "alice", password: "x", users: config.basicAuthUsers) == false)
        #expect(ContinuousClock.now - started < .seconds(1), "a cost-31 hash must never be computed")
    }

    @Test func test_constantTimeEqual() {
        #expect(BasicAuth.constantTimeEqual("abc", "abc"))
        #expect(!BasicAuth.constantTimeEqual("abc", "abd"))
        #expect(!BasicAuth.constantTimeEqual("abc", "abcd"))
    }
}
