import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// `modules:` and `/probe?module=M&target=ADDR` with `allowed_targets` (DESIGN §3, §7).
@Suite("Modules", .serialized)
struct ModuleTests {
    @Test func test_moduleTarget_parsesHostPortURLs_andRejectsTheRest() {
        #expect(ModuleTarget("10.0.3.7:6379") == ModuleTarget("10.0.3.7:6379"))
        #expect(ModuleTarget("10.0.3.7:6379")?.port == 6379)
        #expect(ModuleTarget("Redis-1.internal")?.host == "redis-1.internal")
        #expect(ModuleTarget("Redis-1.internal")?.port == nil)
        #expect(ModuleTarget("https://grafana.internal/x")?.port == 443)
        #expect(ModuleTarget("http://grafana.internal:3000")?.host == "grafana.internal")
        #expect(ModuleTarget("[::1]:8500")?.host == "::1")
        for bad in ["", "a b", "http://user@host", "ftp://host", "host:0", "host:99999", "a:b:c", "host/path", "ho\u{e9}st", "host:1#x",
                    String(repeating: "a", count: 600)] {
            #expect(ModuleTarget(bad) == nil, "\(bad)")
        }
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
        #expect(allows("*", "anything:1"))
        for bad in ["", "10.0.0.0/33", "host:port", "a/b", "[fd00::/8"] { #expect(TargetPattern(bad) == nil, "\(bad)") }
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
        #expect(asURL.status == 403)
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
}
