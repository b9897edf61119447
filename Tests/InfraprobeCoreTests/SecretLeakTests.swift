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
}
