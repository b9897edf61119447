import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// Every credential of every prober kind, correct and wrong, configured inline and via files,
/// on named targets and a module; then every output surface is searched for them.
@Suite("Secrets never leak", .serialized)
struct SecretLeakTests {
    static let secrets = [
        "redis": "redis-pw-Q7x1", "redisWrong": "redis-wrong-pw-Z9k2", "redisModule": "redis-module-pw-M3n4",
        "consul": "consul-token-A1b2", "consulWrong": "consul-wrong-token-C3d4",
        "arango": "arango-pw-E5f6", "arangoWrong": "arango-wrong-pw-G7h8",
        "tempo": "tempo-token-I9j0", "grafana": "glsa_grafana_token_K1l2", "grafanaWrong": "glsa_wrong_token_M3n4",
        "otel": "otel-bearer-O5p6", "otelFile": "otel-file-bearer-Q7r8",
    ]

    @Test func test_noSecretOnAnySurface() async throws {
        let s = Self.secrets
        let redis = try await RedisServer.make(["--requirepass", s["redis"]!])
        let consul = FakeConsul(token: s["consul"]!), arango = FakeArangoDB(password: s["arango"]!)
        let tempo = FakeTempo(), grafana = FakeGrafana(token: s["grafana"]!), otel = FakeOTelCollector(bearer: s["otel"]!)
        let fakes: [FakeService] = [consul, arango, tempo, grafana, otel]
        for fake in fakes { try fake.start() }
        let directory = redis.directory
        let otelTokenFile = directory.appendingPathComponent("otel.token")
        try (s["otelFile"]! + "\n").write(to: otelTokenFile, atomically: true, encoding: .utf8)
        let redisPasswordFile = directory.appendingPathComponent("redis.pass")
        try (s["redis"]! + "\n").write(to: redisPasswordFile, atomically: true, encoding: .utf8)
        let configFile = directory.appendingPathComponent("infraprobe.yml")
        try """
            timeout: 2s
            targets:
              redis:
                prober: redis
                address: \(redis.address)
                password_file: \(redisPasswordFile.path)
              redis-wrong:
                prober: redis
                address: \(redis.address)
                password: \(s["redisWrong"]!)
              consul:
                prober: consul
                url: \(consul.url)
                token: \(s["consul"]!)
              consul-wrong:
                prober: consul
                url: \(consul.url)
                token: \(s["consulWrong"]!)
              arangodb:
                prober: arangodb
                url: \(arango.url)
                username: root
                password: \(s["arango"]!)
              arangodb-wrong:
                prober: arangodb
                url: \(arango.url)
                username: root
                password: \(s["arangoWrong"]!)
              tempo:
                prober: tempo
                url: \(tempo.url("http"))
                otlp_url: \(tempo.url("otlp"))
                token: \(s["tempo"]!)
              grafana:
                prober: grafana
                url: \(grafana.url)
                token: \(s["grafana"]!)
              grafana-wrong:
                prober: grafana
                url: \(grafana.url)
                token: \(s["grafanaWrong"]!)
              otel:
                prober: otel_collector
                health_url: \(otel.url("health"))/
                otlp_url: \(otel.url("otlp"))
                metrics_url: \(otel.url("metrics"))/metrics
                token: \(s["otel"]!)
              otel-file-token:
                prober: otel_collector
                health_url: \(otel.url("health"))/
                otlp_url: \(otel.url("otlp"))
                metrics_url: \(otel.url("metrics"))/metrics
                token_file: \(otelTokenFile.path)
            modules:
              redis_cache:
                prober: redis
                password: \(s["redisModule"]!)
                allowed_targets: ["127.0.0.1:*"]
            """.write(to: configFile, atomically: true, encoding: .utf8)

        var surfaces: [(String, String)] = []
        let exporter = try await BlockingExecutor.shared.run {
            Result { try SpawnedExporter(configFile: configFile.path, arguments: ["--log.level", "debug"], directory: directory) }
        }.get()
        let base = exporter.base
        let fetched = try await BlockingExecutor.shared.run { () -> Result<[(String, String)], Error> in
            Result {
                var out: [(String, String)] = []
                func get(_ path: String) throws -> String {
                    let response = try HTTPFetch.get(base + path, maxTime: 10)
                    return "HTTP \(response.status)\n\(response.text)"
                }
                out.append(("/probe", try get("/probe")))
                out.append(("/probe?debug=true", try get("/probe?debug=true")))
                out.append(("/probe?module", try get("/probe?module=redis_cache&target=\(redis.address)&debug=true")))
                out.append(("/probe?module metrics", try get("/probe?module=redis_cache&target=\(redis.address)")))
                for id in 1...24 { out.append(("/logs?id=\(id)", try get("/logs?id=\(id)"))) }
                out.append(("/config", try get("/config")))
                out.append(("/metrics", try get("/metrics")))
                out.append(("/", try get("/")))
                out.append(("reload", try HTTPFetch.get(base + "/-/reload", method: "POST").text))
                return out
            }
        }.get()
        surfaces += fetched
        // The wrong credentials must really have produced failures (so their error paths ran).
        let all = fetched.first { $0.0 == "/probe?debug=true" }!.1
        #expect(all.contains("reason=auth"), "wrong credentials should fail with reason auth:\n\(all.prefix(3000))")
        #expect(fetched.first { $0.0 == "/logs?id=24" }!.1.hasPrefix("HTTP 200"), "the history should hold all probes")

        let check = try await BlockingExecutor.shared.run {
            Result { try SpawnedExporter.run(["check", "--config.file", configFile.path, "--format", "json", "--log.level", "debug"]) }
        }.get()
        #expect(check.0 == 1, "check must report the wrong-credential targets as failed")
        surfaces.append(("check --format json", check.1))
        surfaces.append(("check text", try await BlockingExecutor.shared.run {
            Result { try SpawnedExporter.run(["check", "--config.file", configFile.path, "--log.level", "debug"]).1 }
        }.get()))
        surfaces.append(("--config.check", try await BlockingExecutor.shared.run {
            Result { try SpawnedExporter.run(["--config.file", configFile.path, "--config.check"]).1 }
        }.get()))
        exporter.signal(SIGHUP)
        _ = await BlockingExecutor.shared.run { exporter.stop() }
        surfaces.append(("process log (debug)", exporter.log))
        #expect(exporter.log.contains("debug"), "debug logging should be on:\n\(exporter.log.prefix(2000))")
        #expect(exporter.log.contains("component failed"), "failed components are logged with their error")

        for fake in fakes { await fake.stopOffPool() }
        for (surface, text) in surfaces {
            for (name, secret) in s where text.contains(secret) {
                Issue.record("secret \(name) appears in \(surface)")
            }
        }
        #expect(surfaces.count > 30)
    }

    /// Userinfo in a URL is refused (credentials go in username/password keys, which are
    /// redacted): for every URL setting of every kind, on targets and modules.
    static let userinfoSecret = "userinfo-pw-U1v2"

    static func userinfoConfigs(port: Int) -> [(key: String, yaml: String)] {
        let u = "infraprobe:\(userinfoSecret)@"
        let base = "http://127.0.0.1:\(port)"
        func target(_ kind: String, _ settings: String) -> String { "targets:\n  t:\n    prober: \(kind)\n" + settings }
        func module(_ kind: String, _ settings: String) -> String {
            "modules:\n  m:\n    prober: \(kind)\n    allowed_targets: [\"*\"]\n" + settings
        }
        return [
            ("targets.t.address", target("redis", "    address: \(u)127.0.0.1:\(port)\n")),
            ("targets.t.url", target("consul", "    url: http://\(u)127.0.0.1:\(port)\n")),
            ("targets.t.url", target("consul", "    url: \(u)127.0.0.1:\(port)\n")),
            ("targets.t.url", target("arangodb", "    url: HTTP://\(u)127.0.0.1:\(port)/\n")),
            ("targets.t.url", target("grafana", "    url: https://\(u)127.0.0.1:\(port)\n")),
            ("targets.t.url", target("tempo", "    url: http://\(u)127.0.0.1:\(port)\n")),
            ("targets.t.otlp_url", target("tempo", "    url: \(base)\n    otlp_url: http://\(u)127.0.0.1:\(port)\n")),
            ("targets.t.health_url", target("otel_collector", "    health_url: http://\(u)127.0.0.1:\(port)/\n    otlp_url: \(base)\n    metrics_url: \(base)\n")),
            ("targets.t.otlp_url", target("otel_collector", "    health_url: \(base)\n    otlp_url: http://\(u)127.0.0.1:\(port)\n    metrics_url: \(base)\n")),
            ("targets.t.metrics_url", target("otel_collector", "    health_url: \(base)\n    otlp_url: \(base)\n    metrics_url: http://\(u)127.0.0.1:\(port)/metrics\n")),
            ("modules.m.address", module("redis", "    address: \"\(u){host}:6379\"\n")),
            ("modules.m.url", module("consul", "    url: \"http://\(u){target}\"\n")),
            ("modules.m.url", module("arangodb", "    url: \"http://\(u){host}:8529\"\n")),
            ("modules.m.url", module("grafana", "    url: \"http://\(u){host}:3000\"\n")),
            ("modules.m.otlp_url", module("tempo", "    url: \"http://{host}:3200\"\n    otlp_url: \"http://\(u){host}:4318\"\n")),
            ("modules.m.metrics_url", module("otel_collector",
                "    health_url: \"http://{host}:13133\"\n    otlp_url: \"http://{host}:4318\"\n    metrics_url: \"http://\(u){host}:8888/metrics\"\n")),
        ]
    }

    @Test func test_userinfoInAnyConfiguredURL_isRefused_pointingAtUsernameAndPassword() {
        for (key, yaml) in Self.userinfoConfigs(port: 1) {
            do {
                _ = try Probe.config(yaml)
                Issue.record("accepted userinfo at \(key)")
            } catch {
                let text = "\(error)"
                #expect(text.contains(": \(key): must not carry credentials"), "\(text)")
                #expect(text.contains("username and password (or password_file) keys"))
                #expect(!text.contains(Self.userinfoSecret), "\(text)")
            }
        }
    }

    @Test func test_userinfo_neverShown_byCheck_reload_config_orLogs() async throws {
        let s = Self.userinfoSecret
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("infraprobe-userinfo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let configFile = directory.appendingPathComponent("infraprobe.yml")
        let good = "modules:\n  m:\n    prober: consul\n    allowed_targets: [\"127.0.0.1:*\"]\n"
        try good.write(to: configFile, atomically: true, encoding: .utf8)
        let exporter = try await BlockingExecutor.shared.run {
            Result { try SpawnedExporter(configFile: configFile.path, arguments: ["--log.level", "debug"], directory: directory) }
        }.get()
        let base = exporter.base
        let configs = Self.userinfoConfigs(port: 1)
        let surfaces = try await BlockingExecutor.shared.run { () -> Result<[(String, String)], Error> in
            Result {
                var out: [(String, String)] = []
                for (index, config) in configs.enumerated() {
                    try config.yaml.write(to: configFile, atomically: true, encoding: .utf8)
                    let check = try SpawnedExporter.run(["--config.file", configFile.path, "--config.check"])
                    if check.0 == 0 { Issue.record("--config.check accepted userinfo at \(config.key)") }
                    out.append(("--config.check \(index)", check.1))
                    let reload = try HTTPFetch.get(base + "/-/reload", method: "POST")
                    if reload.status != 500 { Issue.record("reload accepted userinfo at \(config.key)") }
                    out.append(("reload \(index)", reload.text))
                }
                out.append(("/config", try HTTPFetch.get(base + "/config").text))
                let probe = try HTTPFetch.get(base + "/probe?module=m&target=http%3A%2F%2Fu%3A\(s)%40127.0.0.1%3A1&debug=true")
                if probe.status != 400 { Issue.record("a target with userinfo answered \(probe.status)") }
                out.append(("/probe target with userinfo", probe.text))
                out.append(("/metrics", try HTTPFetch.get(base + "/metrics").text))
                return out
            }
        }.get()
        _ = await BlockingExecutor.shared.run { exporter.stop() }
        let all = surfaces + [("process log (debug)", exporter.log)]
        #expect(exporter.log.contains("must not carry credentials"), "reload failures are logged:\n\(exporter.log.prefix(2000))")
        #expect(all.first { $0.0 == "/probe target with userinfo" }!.1.contains("<secret>@127.0.0.1"))
        for (surface, text) in all where text.contains(s) {
            Issue.record("userinfo password appears in \(surface): \(text.prefix(300))")
        }
    }
}
