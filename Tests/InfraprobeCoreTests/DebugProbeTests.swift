import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// `/probe?target=X&debug=true` and `/logs?id=N` for every prober kind: per component the
/// steps (request, status, bytes, timing, truncated response), the metrics and the redacted config.
@Suite("Debug probes", .serialized)
struct DebugProbeTests {
    @Test func test_debugOutput_forEveryProberKind() async throws {
        let redis = try await RedisServer.make(["--requirepass", "dbg-redis-pw"])
        let consul = FakeConsul(token: "dbg-consul-token"), arango = FakeArangoDB(password: "dbg-arango-pw")
        let tempo = FakeTempo(), grafana = FakeGrafana(token: "dbg-grafana-token"), otel = FakeOTelCollector(bearer: "dbg-otel-token")
        let fakes: [FakeService] = [consul, arango, tempo, grafana, otel]
        for fake in fakes { try fake.start() }
        let exporter = try TestExporter(config: """
            targets:
              redis: {prober: redis, address: "\(redis.address)", password: dbg-redis-pw}
              consul: {prober: consul, url: "\(consul.url)", token: dbg-consul-token}
              arangodb: {prober: arangodb, url: "\(arango.url)", username: root, password: dbg-arango-pw}
              tempo: {prober: tempo, url: "\(tempo.url("http"))", otlp_url: "\(tempo.url("otlp"))", token: dbg-tempo-token}
              grafana: {prober: grafana, url: "\(grafana.url)", token: dbg-grafana-token}
              otel: {prober: otel_collector, health_url: "\(otel.url("health"))/", otlp_url: "\(otel.url("otlp"))", metrics_url: "\(otel.url("metrics"))/metrics", token: dbg-otel-token}
            """)
        let secretKey = ["redis": "password", "consul": "token", "arangodb": "password", "tempo": "token", "grafana": "token", "otel": "token"]
        for target in exporter.runtime.service.config.targets {
            let debug = try await exporter.get("/probe?target=\(target.name)&debug=true")
            let text = debug.text
            #expect(debug.status == 200)
            #expect(text.hasPrefix("Probe #"), "\(target.name)")
            #expect(text.contains("\(target.components.count)/\(target.components.count) components passed"), "\(target.name):\n\(text.prefix(3000))")
            for component in target.components {
                #expect(text.contains("== \(component): PASS in "), "\(target.name)/\(component)")
            }
            let steps = text.split(separator: "\n").filter { $0.hasPrefix("   +") }
            #expect(steps.count >= target.components.count, "\(target.name): every component records its steps")
            #expect(steps.allSatisfy { $0.contains("s ") }, "each step has its time offset")
            if target.kind == "redis" {
                #expect(text.contains("AUTH <secret> → OK ("))
                #expect(steps.contains { $0.contains("SET ") && $0.contains("B sent, ") && $0.contains("B received, ") })
            } else {
                #expect(steps.contains { $0.contains("GET http://127.0.0.1:") && $0.contains("→ 200 (") && $0.contains(" B, ") })
            }
            if ["consul", "arangodb", "tempo", "otel"].contains(target.name) {
                #expect(steps.contains { $0.contains(" B sent] → ") }, "\(target.name): request bodies are counted")
            }
            #expect(text.contains("\nMetrics:\n"))
            #expect(text.contains("infraprobe_component_up{target=\"\(target.name)\",prober=\"\(target.kind)\",component=\"service_running\"} 1"))
            #expect(text.contains("\nTarget configuration:\n"))
            #expect(text.contains("  \(secretKey[target.name]!): <secret>\n"), "\(target.name)")
            #expect(!text.contains("dbg-"), "\(target.name): a secret leaked")
            // The same account is available afterwards from /logs.
            let id = try #require(exporter.runtime.service.latest(target: target.name)?.id)
            #expect(try await exporter.get("/logs?id=\(id)").text == text)
        }
        #expect(try await exporter.get("/logs?id=999").status == 404)
        #expect(try await exporter.get("/logs?id=abc").status == 400)
        for fake in fakes { await fake.stopOffPool() }
    }
}
