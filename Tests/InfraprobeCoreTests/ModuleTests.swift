import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// `modules:` and `/probe?module=M&target=ADDR` with `allowed_targets` (DESIGN §3, §7).
@Suite("Modules", .serialized)
struct ModuleTests {
    @Test func test_moduleTarget_canonicalisesEverySpellingOfOneAddress() {
        let cases: [(String, String)] = [
            ("10.0.3.7:6379", "10.0.3.7:6379"), ("Redis-1.Internal", "redis-1.internal"), ("redis-1.internal.:6379", "redis-1.internal:6379"),
            ("0x7f.0.0.1:80", "127.0.0.1:80"), ("0x7F.1", "127.0.0.1"), ("2130706433:80", "127.0.0.1:80"), ("017700000001", "127.0.0.1"),
            ("0177.0.0.01:80", "127.0.0.1:80"), ("127.1:80", "127.0.0.1:80"), ("10.0.0.1.:1", "10.0.0.1:1"), ("0x", "0.0.0.0"),
            ("[::1]:8500", "[::1]:8500"), ("[0:0::1]:8500", "[::1]:8500"), ("[0000:0000:0000:0000:0000:0000:0000:0001]", "[::1]"),
            ("[FD00::AB]:1", "[fd00::ab]:1"), ("[::ffff:10.0.0.1]:6379", "10.0.0.1:6379"), ("[::FFFF:a00:1]:6379", "10.0.0.1:6379"),
            ("http://Grafana.Internal:3000", "http://grafana.internal:3000"), ("HTTPS://grafana.internal", "https://grafana.internal"),
            ("https://grafana.internal:443/", "https://grafana.internal"), ("http://0x7f.1:80", "http://127.0.0.1"),
            ("http://[::ffff:127.0.0.1]:8500", "http://127.0.0.1:8500"), ("a_b.internal", "a_b.internal"),
            (String(repeating: "a", count: 63) + ".internal", String(repeating: "a", count: 63) + ".internal"),
        ]
        for (given, canonical) in cases {
            #expect(ModuleTarget(given)?.text == canonical, "\(given)")
        }
        #expect(ModuleTarget("https://grafana.internal")?.port == 443)
        #expect(ModuleTarget("grafana.internal")?.port == nil)
        #expect(ModuleTarget("[::ffff:10.0.0.1]") == ModuleTarget("10.0.0.1"))
        #expect(ModuleTarget("redis:6379", allowsScheme: false)?.text == "redis:6379")
    }

    @Test func test_moduleTarget_rejectsAnythingButHostAndPort() {
        let long = String(repeating: "a", count: 64)
        let bad = [
            "", " ", "a b", "host\r\nX-Injected: 1", "host\n", "host\t", "host\u{0}", "ho\u{e9}st", "h\u{2024}st", "\u{ff0e}host",
            "host/path", "host:80/path", "host?x=1", "host:80?x=1", "host#x", "host:1#x", "http://host/path", "http://host//", "http://host/?x",
            "http://host#f", "http://host:80/a/../b", "host%2Fpath", "host%2fpath", "host%00", "%68ost", "host\\path", "http://host\\@evil",
            "user@host", "http://user@host", "http://user:pass@host:80", "host@evil:80", "http://host:80@evil", "host%40evil",
            "ftp://host", "file:///etc/passwd", "redis://host:6379", "unix:/run/redis.sock", "unix:///run/redis.sock", "gopher://host:70",
            "host:0", "host:65536", "host:99999", "host:+80", "host:-1", "host:0x50", "host:080", "host:", "host: 80", "host:80 ", "host:1e3",
            "host:8080808080808080808080", "a:b:c", "::1", "::1:80", "[::1", "[::1]x", "[::1]:", "[::1]:0", "[fe80::1%25eth0]:80", "[fe80::1%eth0]",
            "[::g]", "[10.0.0.1]", "[]", "[::1]:80:80", ":80", ".", "..", "a..b", ".host", "host..", "-host", "host-", "a.-b", "a.b-",
            long + ".internal", String(repeating: "a.", count: 130) + "a", String(repeating: "a", count: 1000),
            "example.123", "1.2.3.4.5", "256.0.0.1", "1.2.3.256", "1.2.65536", "4294967296", "0x100000000", "09.0.0.1", "1.2.3.08",
            "{host}", "{target}", "{host}:80", "x{target}", "$(id)", "`id`", "host;rm", "host,other", "host|x", "'host'", "\"host\"", "*",
        ]
        for text in bad {
            #expect(ModuleTarget(text) == nil, "\(text.debugDescription)")
        }
        #expect(ModuleTarget("http://host:80", allowsScheme: false) == nil, "redis takes no scheme")
    }

    @Test func test_moduleTarget_shownText_redactsUserinfo_andEscapesControls() {
        #expect(ModuleTarget.shown("http://u:hunter2@host/x") == "http://<secret>@host/x")
        #expect(ModuleTarget.shown("hunter2@host") == "<secret>@host")
        #expect(ModuleTarget.shown("a\r\nb c\"%0A") == "a%0D%0Ab%20c%22%250A")
        #expect(ModuleTarget.shown(String(repeating: "x", count: 1000)).count == ModuleTarget.maxLength + 1)
    }

    /// Random texts from the characters attackers reach for: parsing never traps, and whatever
    /// is accepted is already canonical (parsing its text again gives the same target) and
    /// carries nothing but a host, a port and maybe a scheme.
    @Test func test_moduleTarget_acceptsOnlyCanonicalisableHostPorts_forRandomInput() {
        let pieces = ["a", "Z", "0", "1", "7", "9", "f", "x", "0x", "00", "255", "256", "65535", "65536", ".", "..", ":", "::", "[", "]",
                      "/", "?", "#", "@", "%", "%2F", "\\", "-", "_", "*", " ", "\r\n", "\u{0}", "\u{e9}", "http://", "https://", "ftp://",
                      "{host}", "{target}", "ffff", "::ffff:", "127.0.0.1", "10.0.0.", "localhost", "xn--", "%25", "+", "unix:"]
        var rng = SplitMix64(seed: 0x1f2e3d4c)
        var accepted = 0
        for _ in 0..<30_000 {
            let text = (0..<Int(rng.next() % 8 + 1)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined()
            for allowsScheme in [true, false] {
                guard let target = ModuleTarget(text, allowsScheme: allowsScheme) else { continue }
                accepted += 1
                #expect(ModuleTarget(target.text, allowsScheme: allowsScheme) == target, "\(text.debugDescription) → \(target.text)")
                #expect(ModuleTarget(target.text, allowsScheme: allowsScheme)?.text == target.text)
                let afterScheme = target.text.components(separatedBy: "://").last!
                #expect(!afterScheme.contains(where: { "/?#@%\\{} ".contains($0) }), "\(target.text)")
                #expect(allowsScheme || target.scheme == nil)
            }
        }
        #expect(accepted > 1000, "the generator should also produce valid targets (\(accepted))")
    }

    @Test func test_allowedTargets_globsCIDRsAndPorts() {
        func allows(_ pattern: String, _ target: String) -> Bool { TargetPattern(pattern)!.matches(ModuleTarget(target)!) }
        #expect(allows("10.0.0.0/8:6379", "10.3.4.5:6379"))
        #expect(!allows("10.0.0.0/8:6379", "10.3.4.5:6380"))
        #expect(!allows("10.0.0.0/8:6379", "11.3.4.5:6379"))
        #expect(!allows("10.0.0.0/8", "ten.example:6379"), "CIDRs never match names (no DNS before the check)")
        #expect(allows("10.0.0.0/8", "10.0.0.1"))
        #expect(allows("192.168.1.128/25:*", "192.168.1.200:1"))
        #expect(!allows("192.168.1.128/25:*", "192.168.1.100:1"))
        #expect(allows("[fd00::/8]:6379", "[fd12::1]:6379"))
        #expect(!allows("[fd00::/8]:6379", "[fe80::1]:6379"))
        #expect(allows("redis-*.internal:6379", "redis-42.internal:6379"))
        #expect(!allows("redis-*.internal:6379", "redis-42.internal.evil.com:6379"))
        #expect(!allows("redis-*.internal:6379", "redis-42.internal"), "a pattern with a port needs a target with that port")
        #expect(allows("*.internal", "http://grafana.internal"))
        #expect(allows("*", "anything:1") && allows("*", "[::1]:1") && allows("*:*", "10.0.0.1"))
    }

    @Test func test_allowedTargets_starNeverCrossesADot() {
        func allows(_ pattern: String, _ target: String) -> Bool { TargetPattern(pattern)!.matches(ModuleTarget(target)!) }
        #expect(allows("10.0.0.*:6379", "10.0.0.1:6379"))
        #expect(!allows("10.0.0.*:6379", "10.0.0.1.attacker.example:6379"))
        #expect(!allows("*.internal", "a.b.internal"))
        #expect(allows("*.*.internal", "a.b.internal"))
        #expect(!allows("redis-*", "redis-1.attacker.example"))
        #expect(!allows("redis-?", "redis."), "a name cannot end in a dot once canonical, and ? is never a dot")
        #expect(!allows("a?b.internal", "a.b.internal"))
        #expect(allows("a?b.internal", "axb.internal"))
        #expect(allows("*-cache.internal", "eu-1-cache.internal"))
        #expect(!allows("*-cache.internal", "x.eu-1-cache.internal"))
        #expect(allows("10.0.0.*", "0x0a.0.0.7"), "the glob sees the canonical dotted-decimal form")
        #expect(!allows("10.0.0.*", "10.0.1.7"))
        #expect(allows("REDIS-*.Internal.", "redis-1.internal"))
    }

    @Test func test_allowedTargets_matchCanonicalForms_ofIPLiterals() {
        func allows(_ pattern: String, _ target: String) -> Bool { TargetPattern(pattern)!.matches(ModuleTarget(target)!) }
        #expect(allows("10.0.0.0/8:6379", "[::ffff:10.0.0.1]:6379"), "an IPv4-mapped address is its IPv4 address")
        #expect(allows("[::ffff:10.0.0.0/104]", "10.1.2.3"))
        #expect(!allows("10.0.0.0/8", "[::ffff:11.0.0.1]"))
        #expect(allows("127.0.0.0/8", "0x7f.1") && allows("127.0.0.0/8", "2130706433:80") && allows("127.0.0.0/8", "0177.0.0.1"))
        #expect(!allows("10.0.0.0/8", "0x0b.0.0.1"))
        #expect(allows("[::1]:8500", "[0:0::1]:8500"))
        #expect(allows("[0:0:0:0:0:0:0:1]", "[::1]:8500"))
        #expect(allows("127.0.0.1:80", "0x7f.0.0.1:80"))
        #expect(allows("Redis.Internal.", "redis.internal"))
        #expect(!allows("127.0.0.1:80", "127.0.0.1:8080"))
        #expect(!allows("[fd00::/8]", "fd00.internal"))
        for bad in ["", "10.0.0.0/33", "host:port", "a/b", "[fd00::/8", "host:0", "host:+80", "host:080", "10.0.0.0/8:65536", "0x0a.0.0.0/8",
                    "010.0.0.0/8", "10.0.0/8", "[::1%eth0]", "exa mple", "a..b", "host/8", "10.0.0.0/-1", "10.0.0.0/+8", "[fd00::/129]"] {
            #expect(TargetPattern(bad) == nil, "\(bad)")
        }
    }

    @Test func test_placeholders_areReplacedOnce_neverRecursively() {
        let substitutions = ["{target}": "{host}", "{host}": "h{target}"]
        #expect(ConfigSection.substitute("{target}|{host}|{hos|{}", substitutions) == "{host}|h{target}|{hos|{}")
        #expect(ConfigSection.substitute("{{host}}", substitutions) == "{h{target}}")
        #expect(ConfigSection.substitute("http://{host}:3200", ["{host}": "[::1]"]) == "http://[::1]:3200")
    }

    @Test func test_config_rejectsBadModules_withFileLineAndKey() throws {
        func error(_ yaml: String) -> String {
            do { _ = try Probe.config(yaml); return "accepted" } catch { return "\(error)" }
        }
        #expect(error("modules:\n  m:\n    prober: redis\n") == "test.yml:3: modules.m.allowed_targets: is required: the host:port globs or CIDRs this module may probe (\"*\" for any)")
        #expect(error("modules:\n  m:\n    prober: redis\n    allowed_targets: [\"10.0.0.0/99\"]\n").contains("modules.m.allowed_targets: \"10.0.0.0/99\" is not"))
        #expect(error("modules:\n  m:\n    prober: redis\n    allowed_targets: [\"*\"]\n    pasword: x\n") == "test.yml:5: modules.m.pasword: unknown key")
        #expect(error("modules:\n  m:\n    prober: nope\n    allowed_targets: [\"*\"]\n").contains("modules.m.prober: unknown prober"))
        #expect(error("modules:\n  m:\n    prober: tempo\n    url: \"ftp://{host}\"\n    allowed_targets: [\"*\"]\n").contains("modules.m.url: expected an http(s) URL"))
        #expect(error("modules:\n  m:\n    prober: pipeline\n    tempo: t\n    allowed_targets: [\"*\"]\n")
            .contains("test.yml:3: modules.m.prober: a pipeline target follows other configured targets"))
    }

    static let secret = "module-only-secret-4711"

    @Test func test_redisModule_probesAllowedAddress_withModuleCredentials() async throws {
        let redis = try await RedisServer.make(["--requirepass", Self.secret])
        let exporter = try TestExporter(config: """
            modules:
              redis_cache:
                prober: redis
                password: \(Self.secret)
                components: [service_running, basic_operations]
                allowed_targets: ["127.0.0.0/8:*", "redis-*.internal:6379"]
            """)
        let response = try await exporter.get("/probe?module=redis_cache&target=\(redis.address)")
        #expect(response.status == 200)
        #expect(response.text.contains("probe_success{target=\"\(redis.address)\"} 1"), "\(response.text)")
        #expect(response.text.contains("infraprobe_component_up{target=\"\(redis.address)\",prober=\"redis\",component=\"basic_operations\"} 1"))
        try await ExpositionCheck.promtool(response.text)
        let debug = try await exporter.get("/probe?module=redis_cache&target=\(redis.address)&debug=true")
        #expect(debug.text.contains("module redis_cache"))
        #expect(debug.text.contains("password: <secret>"))
        let landing = try await exporter.get("/")
        #expect(landing.text.contains(redis.address) && landing.text.contains("redis_cache"))
        let config = try await exporter.get("/config")
        #expect(config.text.contains("modules:\n  redis_cache:\n    prober: redis\n"), "\(config.text)")
        #expect(config.text.contains("allowed_targets: [\"127.0.0.0/8:*\", \"redis-*.internal:6379\"]"))
        for text in [response.text, debug.text, landing.text, config.text] { #expect(!text.contains(Self.secret)) }
    }

    @Test func test_disallowedAddress_is403_andNeverContacted() async throws {
        let hole = try BlackHoleListener()
        let exporter = try TestExporter(config: """
            modules:
              redis_cache:
                prober: redis
                allowed_targets: ["10.0.0.0/8:6379", "127.0.0.1:1"]
            """)
        let refused = try await exporter.get("/probe?module=redis_cache&target=\(hole.address)")
        #expect(refused.status == 403)
        #expect(refused.text == "target \"\(hole.address)\" is not in allowed_targets of module \"redis_cache\"\n")
        let asURL = try await exporter.get("/probe?module=redis_cache&target=http://\(hole.address)/")
        #expect(asURL.status == 400, "redis targets take no scheme")
        #expect(asURL.text.contains("takes no scheme"), "\(asURL.text)")
        let sneaky = try await exporter.get("/probe?module=redis_cache&target=10.0.0.1.attacker.example:6379")
        #expect(sneaky.status == 403, "10.0.0.0/8 never admits a name that starts like 10.0.0.1")
        #expect(hole.pendingConnections() == 0, "a refused target must never be connected to")
        #expect(try await exporter.get("/probe?module=nope&target=\(hole.address)").status == 400)
        #expect(try await exporter.get("/probe?module=redis_cache").status == 400)
        #expect(try await exporter.get("/probe?module=redis_cache&target=a%20b").status == 400)
        #expect(try await exporter.get("/probe?module=redis_cache&target=u%40127.0.0.1:1").status == 400)
        #expect(hole.pendingConnections() == 0)
    }

    @Test func test_everyHTTPProberKind_throughModules() async throws {
        let fleet = FakeFleet()
        try fleet.start()
        let tempoHTTP = port(of: fleet.tempo.url("http")), tempoOTLP = port(of: fleet.tempo.url("otlp"))
        let health = port(of: fleet.otel.url("health")), otlp = port(of: fleet.otel.url("otlp")), metrics = port(of: fleet.otel.url("metrics"))
        let exporter = try TestExporter(config: """
            modules:
              consul:
                prober: consul
                token: \(FakeFleet.consulToken)
                allowed_targets: ["127.0.0.1:*"]
              arangodb:
                prober: arangodb
                username: root
                password: \(FakeFleet.arangoPassword)
                allowed_targets: ["127.0.0.1:*"]
              grafana:
                prober: grafana
                token: \(fleet.grafana.token)
                allowed_targets: ["127.0.0.1"]
              tempo:
                prober: tempo
                url: "http://{host}:\(tempoHTTP)"
                otlp_url: "http://{host}:\(tempoOTLP)"
                allowed_targets: ["127.0.0.0/8"]
              otel:
                prober: otel_collector
                health_url: "http://{host}:\(health)/"
                otlp_url: "http://{host}:\(otlp)"
                metrics_url: "http://{host}:\(metrics)/metrics"
                allowed_targets: ["127.0.0.1"]
            """)
        let cases = [("consul", fleet.consul.url.replacingOccurrences(of: "http://", with: "")), ("arangodb", fleet.arango.url),
                     ("grafana", fleet.grafana.url), ("tempo", "127.0.0.1"), ("otel", "127.0.0.1")]
        for (module, target) in cases {
            let encoded = target.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let response = try await exporter.get("/probe?module=\(module)&target=\(encoded)")
            #expect(response.status == 200)
            #expect(response.text.contains("probe_success{target=\"\(target)\"} 1"), "\(module): \(response.text)")
        }
        let config = try await exporter.get("/config").text
        #expect(config.contains("url: \"http://{host}:\(tempoHTTP)\""), "\(config)")
        #expect(!config.contains(FakeFleet.consulToken) && !config.contains(fleet.grafana.token))
        await fleet.stopOffPool()
    }

    /// What each kind's module is told to probe, with the recording listener as every endpoint.
    static func recordedModules(port: Int) -> String {
        """
        timeout: 2s
        modules:
          redis:
            prober: redis
            password: \(secret)
            components: [service_running]
            allowed_targets: ["127.0.0.0/8:*"]
          consul:
            prober: consul
            token: \(secret)
            components: [service_running, kv_store]
            allowed_targets: ["127.0.0.0/8:*"]
          arangodb:
            prober: arangodb
            username: root
            password: \(secret)
            components: [service_running, document_operations]
            allowed_targets: ["127.0.0.0/8:*"]
          grafana:
            prober: grafana
            token: \(secret)
            components: [service_running]
            allowed_targets: ["127.0.0.0/8:*"]
          tempo:
            prober: tempo
            url: "http://{host}:\(port)"
            otlp_url: "http://{host}:\(port)"
            token: \(secret)
            components: [service_running, trace_ingest]
            allowed_targets: ["127.0.0.0/8:*"]
          otel:
            prober: otel_collector
            health_url: "http://{host}:\(port)/"
            otlp_url: "http://{host}:\(port)"
            metrics_url: "http://{host}:\(port)/metrics"
            token: \(secret)
            allowed_targets: ["127.0.0.0/8:*"]
        """
    }

    @Test func test_injectedPathQueryAndUserinfo_neverReachTheService_forEveryKind() async throws {
        let recorder = try RecordingListener()
        defer { recorder.stop() }
        let port = recorder.port, mark = "INJECTED9x"
        let exporter = try TestExporter(config: Self.recordedModules(port: port))
        let injected = [
            "127.0.0.1:\(port)/\(mark)", "127.0.0.1:\(port)/..%2F\(mark)", "127.0.0.1:\(port)?\(mark)=1", "127.0.0.1:\(port)#\(mark)",
            "\(mark)@127.0.0.1:\(port)", "\(mark):pw@127.0.0.1:\(port)", "127.0.0.1:\(port)@\(mark)", "http://\(mark):pw@127.0.0.1:\(port)/",
            "http://127.0.0.1:\(port)/\(mark)", "http://127.0.0.1:\(port)?\(mark)", "https://127.0.0.1:\(port)/\(mark)#x",
            "127.0.0.1:\(port)%2F\(mark)", "127.0.0.1:\(port)%40\(mark)", "127.0.0.1:\(port)%00\(mark)", "127.0.0.1:\(port)\\\(mark)",
            "127.0.0.1:\(port)\r\nX-\(mark): 1", "127.0.0.1:\(port) \(mark)", "127.0.0.1:\(port)\t\(mark)", "{host}/\(mark)",
            "127.0.0.1:\(port){target}\(mark)", "unix:/tmp/\(mark).sock", "[::1%25\(mark)]:\(port)", "127.0.0.1.\(mark):\(port)",
            "127.0.0.1:+\(port)", "127.0.0.1:0\(port)", "127.0.0.1:0x\(String(port, radix: 16))",
        ]
        for kind in ["redis", "consul", "arangodb", "grafana", "tempo", "otel"] {
            for text in injected {
                let encoded = text.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                let response = try await exporter.get("/probe?module=\(kind)&target=\(encoded)")
                #expect(response.status == 400 || response.status == 403, "\(kind) \(text.debugDescription): \(response.status) \(response.text)")
                #expect(!response.text.contains("pw@"), "userinfo is never echoed")
            }
        }
        #expect(recorder.connections.isEmpty, "a refused target is never connected to: \(recorder.connections)")

        // Other spellings of the recorder's address are probed at its canonical host:port only.
        for kind in ["redis", "consul", "arangodb", "grafana", "tempo", "otel"] {
            let before = recorder.connections.count
            for text in ["0x7f.0.0.1:\(port)", "[::ffff:127.0.0.1]:\(port)", "2130706433:\(port)", "127.1:\(port)"] {
                let response = try await exporter.get("/probe?module=\(kind)&target=\(text.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)")
                #expect(response.status == 200, "\(kind) \(text)")
                #expect(response.text.contains("probe_success{target=\"127.0.0.1:\(port)\"} 0"), "\(kind) \(text): \(response.text)")
            }
            let received = Array(recorder.connections[before...])
            #expect(!received.isEmpty, "\(kind) reached the recorder")
            if kind == "redis" {
                #expect(received.allSatisfy { $0.hasPrefix("*") }, "redis speaks RESP: \(received)")
            } else {
                let hosts = recorder.hostHeaders.suffix(received.count)
                #expect(hosts.allSatisfy { $0 == "127.0.0.1:\(port)" }, "\(kind) Host headers: \(hosts)")
            }
        }
        for connection in recorder.connections {
            #expect(!connection.contains(mark) && !connection.contains("{host}") && !connection.contains("{target}"), "\(connection)")
        }
        let lines = recorder.requestLines.filter { !$0.hasPrefix("*") }
        #expect(lines.allSatisfy { $0.hasPrefix("GET /") || $0.hasPrefix("POST /") || $0.hasPrefix("PUT /") || $0.hasPrefix("DELETE /") }, "\(lines)")
    }

    @Test func test_schemeTarget_isProbedAtItsCanonicalAuthority() async throws {
        let recorder = try RecordingListener()
        defer { recorder.stop() }
        let exporter = try TestExporter(config: Self.recordedModules(port: recorder.port))
        let response = try await exporter.get("/probe?module=consul&target=HTTP%3A%2F%2F0x7F.1%3A\(recorder.port)%2F")
        #expect(response.status == 200)
        #expect(response.text.contains("probe_success{target=\"http://127.0.0.1:\(recorder.port)\"} 0"), "\(response.text)")
        #expect(!recorder.hostHeaders.isEmpty && recorder.hostHeaders.allSatisfy { $0 == "127.0.0.1:\(recorder.port)" }, "\(recorder.hostHeaders)")
    }
}

/// A small seeded generator, so a failing random case is the same on every run.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
