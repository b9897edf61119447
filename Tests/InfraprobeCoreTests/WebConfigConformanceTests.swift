import Foundation
import Testing
@testable import InfraprobeCore

/// exporter-toolkit's own web-config test files, run through infraprobe's `--web.config.file`
/// loader and server: every case of `exporter-toolkit/CASES.md` (its tables are parsed, so a case
/// added there without a client here fails), with the outcome exporter-toolkit gives it, except
/// the differences listed in `documentedDifferences` (and in docs/operating.md §4).
@Suite("exporter-toolkit web-config conformance", .serialized)
struct WebConfigConformanceTests {
    static let folder = Conformance.root.appendingPathComponent("exporter-toolkit")
    static let testdata = folder.appendingPathComponent("web/testdata")
    static func fixture(_ name: String) -> String { testdata.appendingPathComponent(name).path }

    /// One row of a CASES.md table.
    struct Case: CustomTestStringConvertible, Sendable {
        let section: String
        /// nil: "(no web config)".
        let fixture: String?
        let client: String
        let credentials: String
        let expected: String
        var testDescription: String { "\(section): \(fixture ?? "no web config") / \(client) / \(credentials) → \(expected)" }
    }

    static func cases() throws -> [Case] {
        let path = folder.appendingPathComponent("CASES.md").path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw Conformance.MissingMaterial(path: path) }
        var section = "", cases: [Case] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## ") { section = String(line.dropFirst(3).prefix(2).dropLast()) }
            guard line.hasPrefix("|"), !line.hasPrefix("|---") else { continue }
            let cells = Self.cells(line)
            guard cells.first != "fixture" else { continue }
            let name = cells[0].split(separator: " ").first.map { $0.replacingOccurrences(of: "`", with: "") } ?? ""
            let fixture = cells[0].hasPrefix("(no web config)") ? nil : name
            switch (section, cells.count) {
            case ("A", 3): cases.append(Case(section: "A", fixture: fixture, client: "load", credentials: "", expected: cells[1] + " " + cells[2]))
            case ("B", 3): cases.append(Case(section: "B", fixture: fixture, client: cells[1], credentials: "", expected: cells[2]))
            case ("C", 4): cases.append(Case(section: "C", fixture: fixture, client: cells[1], credentials: cells[2], expected: cells[3]))
            default: throw TestFailure("CASES.md: unexpected row in section \(section): \(line)")
            }
        }
        return cases
    }

    /// A table row's cells; a `|` inside backticks (a regexp alternative) does not split.
    static func cells(_ line: Substring) -> [String] {
        var cells: [String] = [], current = "", quoted = false
        for character in line.dropFirst() {
            if character == "`" { quoted.toggle() }
            if character == "|" && !quoted {
                cells.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(character)
            }
        }
        return cells
    }

    /// Upstream's error regexp → the class of our error text where the wording differs (upstream's
    /// text is Go's; ours adds file, line and key). Unlisted regexps must match our error as is.
    static let errorClasses: [String: String] = [
        "yaml": "expected a mapping|unknown key|invalid YAML",
        "no such file": "No such file or directory",
        "hashedSecret too short to be a bcrypted password": "not a bcrypt hash",
    ]

    /// (fixture, client) → what infraprobe does instead, and why. Mirrored in docs/operating.md §4.
    static let documentedDifferences: [String: (expected: String, why: String)] = [
        "web_config_auth_client_san.bad.yaml|TLS with client2_selfsigned cert": (
            "403", "libmicrohttpd exposes the client certificate after the handshake only: a certificate without an allowed SAN gets 403, not a bad_certificate alert"),
    ]

    /// The client of each CASES.md row, as curl arguments (TLS trust in the upstream server
    /// certificate itself: OpenSSL rejects the upstream CA chain, whose intermediate carries only
    /// anyExtendedKeyUsage, as "unsuitable certificate purpose"; Go accepts it).
    static func curlArguments(client: String) -> (tls: Bool, arguments: [String])? {
        let trust = ["--cacert", fixture("server.crt")]
        let tls12 = ["--tls-max", "1.2"]
        switch client {
        case "plain HTTP", "HTTP": return (false, [])
        case "TLS", "TLS client": return (true, trust)
        case "TLS client capped at TLS 1.1": return (true, trust + ["--tls-max", "1.1", "--ciphers", "DEFAULT@SECLEVEL=0"])
        case "TLS, client offers only ECDHE_RSA_AES_128_GCM_SHA256": return (true, trust + tls12 + ["--ciphers", "ECDHE-RSA-AES128-GCM-SHA256"])
        case "TLS, client offers only ECDHE_RSA_AES_256_CBC_SHA": return (true, trust + tls12 + ["--ciphers", "ECDHE-RSA-AES256-SHA"])
        case "client offers AES_128_GCM then AES_256_GCM", "same client":
            return (true, trust + tls12 + ["-v", "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"])
        case "client curve P-521": return (true, trust + ["--curves", "P-521"])
        case "client curve P-384 only": return (true, trust + ["--curves", "P-384"])
        case "TLS with client_selfsigned cert": return (true, trust + ["--cert", fixture("client_selfsigned.pem"), "--key", fixture("client_selfsigned.key")])
        case "TLS with client2_selfsigned cert": return (true, trust + ["--cert", fixture("client2_selfsigned.pem"), "--key", fixture("client2_selfsigned.key")])
        case "11 plain requests": return (false, [])
        default: return nil
        }
    }

    /// The web config as `--web.config.file` loads it: the config or the error text.
    static func load(_ fixture: String?) -> Result<WebConfig?, ConfigError> {
        guard let fixture else { return .success(nil) }
        do { return .success(try WebConfig.load(file: Self.fixture(fixture))) } catch let error as ConfigError {
            return .failure(error)
        } catch {
            return .failure(ConfigError(file: fixture, line: nil, key: "", message: "\(error)"))
        }
    }

    static func backticked(_ text: String) -> String? {
        let parts = text.split(separator: "`", omittingEmptySubsequences: false)
        return parts.count >= 3 ? String(parts[1]) : nil
    }

    static func matches(_ error: ConfigError, upstream regexp: String) -> Bool {
        let pattern = errorClasses[regexp] ?? regexp
        return "\(error)".range(of: pattern, options: .regularExpression) != nil
    }

    @Test func test_casesFile_listsEveryGroup() throws {
        let all = try Self.cases()
        #expect(all.filter { $0.section == "A" }.count >= 18)
        #expect(all.filter { $0.section == "B" }.count >= 26)
        #expect(all.filter { $0.section == "C" }.count >= 10)
    }

    @Test(arguments: try WebConfigConformanceTests.cases().filter { $0.section == "A" })
    func test_loading_refusesOrAccepts_asExporterToolkit(_ item: Case) throws {
        let result = Self.load(item.fixture)
        if item.expected.hasPrefix("refuse") {
            let regexp = try #require(Self.backticked(item.expected), "no error regexp in \(item.expected)")
            switch result {
            case .success: Issue.record("\(item.fixture ?? "") was accepted; exporter-toolkit refuses it (\(regexp))")
            case .failure(let error):
                #expect(Self.matches(error, upstream: regexp), "\(error) is not of class \(regexp)")
                #expect("\(error)".contains(item.fixture ?? "\u{0}"), "the error names the file: \(error)")
            }
        } else {
            #expect(item.expected.hasPrefix("accept"))
            if case .failure(let error) = result { Issue.record("refused: \(error)") }
        }
        // The binary's `--config.check` refuses and accepts the same files.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("infraprobe-confcheck-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let configFile = directory.appendingPathComponent("infraprobe.yml").path
        try "targets: {}\n".write(toFile: configFile, atomically: true, encoding: .utf8)
        let (status, output) = try SpawnedExporter.run(["--config.file", configFile, "--web.config.file", Self.fixture(item.fixture ?? ""), "--config.check"])
        #expect(status == (item.expected.hasPrefix("refuse") ? 1 : 0), "\(output)")
    }

    /// A started exporter serving the fixture, in process.
    final class Served: @unchecked Sendable {
        let runtime: ExporterRuntime
        let directory: URL
        init(_ config: WebConfig?) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("infraprobe-conf-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let configFile = directory.appendingPathComponent("infraprobe.yml")
            try "targets: {}\n".write(to: configFile, atomically: true, encoding: .utf8)
            var settings = ExporterRuntime.Settings(configFile: configFile.path, listen: ListenAddress("127.0.0.1:0")!)
            settings.webConfig = config
            runtime = try ExporterRuntime(settings: settings)
            try runtime.start()
        }
        func url(tls: Bool) -> String { "\(tls ? "https" : "http")://127.0.0.1:\(runtime.server.port)/metrics" }
        deinit {
            runtime.stop()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    @Test(arguments: try WebConfigConformanceTests.cases().filter { $0.section != "A" })
    func test_serving_givesClientsTheOutcomeOfExporterToolkit(_ item: Case) async throws {
        let loaded = Self.load(item.fixture)
        if item.expected.hasPrefix("refuse") {
            let regexp = try #require(Self.backticked(item.expected))
            guard case .failure(let error) = loaded else { Issue.record("accepted; exporter-toolkit refuses it at start (\(regexp))"); return }
            #expect(Self.matches(error, upstream: regexp), "\(error) is not of class \(regexp)")
            return
        }
        let config: WebConfig?
        switch loaded {
        case .success(let value): config = value
        case .failure(let error): Issue.record("refused: \(error)"); return
        }
        let client = try #require(Self.curlArguments(client: item.client), "no client for \"\(item.client)\"")
        let served = try Served(config)
        let url = served.url(tls: client.tls)
        let difference = Self.documentedDifferences["\(item.fixture ?? "")|\(item.client)"]
        let expected = difference?.expected ?? item.expected
        if item.section == "C" {
            try await checkCredentials(item, url: url, arguments: client.arguments)
        } else if item.client == "11 plain requests" {
            var statuses: [Int] = []
            for _ in 0..<11 { statuses.append(try await Curl.run([url]).status) }
            if expected.hasPrefix("all 200") { #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)") }
            else if expected.hasPrefix("some 429") { #expect(statuses.contains(429), "\(statuses)") }
            else { Issue.record("unknown expectation \(expected)") }
        } else {
            let response = try await Curl.run(client.arguments + [url])
            if expected.hasPrefix("fails") {
                #expect(response.status == 0 && response.exitCode != 0, "a client error was expected; got \(response.status) \(response.stderr)")
            } else if let status = Int(expected.prefix(3)) {
                #expect(response.status == status, "\(response.status) exit \(response.exitCode): \(response.stderr)")
                if expected.contains("negotiated AES_128_GCM") {
                    #expect(response.stderr.contains("ECDHE-RSA-AES128-GCM-SHA256"), "\(response.stderr.split(separator: "\n").filter { $0.contains("SSL connection") })")
                }
                if expected.contains("headers are sent verbatim") {
                    let configured = try #require(config?.headers)
                    #expect(configured.count == 5)
                    for (name, value) in configured {
                        #expect(response.headers.contains("\(name): \(value)\r\n"), "\(name) missing: \(response.headers)")
                    }
                }
            } else {
                Issue.record("unknown expectation \(expected)")
            }
        }
    }

    /// Section C: basic auth, one or more requests per row.
    private func checkCredentials(_ item: Case, url: String, arguments: [String]) async throws {
        func request(_ user: String?, _ password: String) async throws -> CurlResult {
            try await Curl.run(arguments + (user.map { ["--user", "\($0):\(password)"] } ?? []) + [url])
        }
        func expectRefused(_ response: CurlResult) {
            #expect(response.status == 401)
            #expect(response.headers.lowercased().contains("www-authenticate: basic"), "\(response.headers)")
            #expect(response.body == "Unauthorized\n")
        }
        switch item.credentials {
        case "none":
            expectRefused(try await request(nil, ""))
        case let text where text.contains("TestBasicAuthCache"):
            let results = try await withThrowingTaskGroup(of: (Bool, Int).self) { group in
                for round in 0..<6 {
                    group.addTask { (round % 2 == 0, try await request("alice", round % 2 == 0 ? "alice123" : "alice1234").status) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for (good, status) in results { #expect(status == (good ? 200 : 401), "good=\(good) got \(status)") }
        case let text where text.contains("TestBasicAuthWithFakepassword"):
            for _ in 0..<2 { expectRefused(try await request("fakeuser", "fakepassword")) }
        case let text where text.contains("TestByPassBasicAuthVuln"):
            expectRefused(try await request("alice$2y$12$1DpfPeqF9HzHJt.EWswy1exHluGfbhnn3yXhR7Xes6m3WJqFg0Wby", "fakepassword"))
            expectRefused(try await request("alice", "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSifakepassword"))
        default:
            let parts = item.credentials.components(separatedBy: " / ")
            try #require(parts.count == 2, "credentials \"\(item.credentials)\"")
            let response = try await request(parts[0], parts[1])
            if item.expected == "401" { expectRefused(response) } else { #expect("\(response.status)" == item.expected, "\(response.stderr)") }
        }
    }
}
