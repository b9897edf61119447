import Foundation
import InfraprobeCore

/// All five HTTP fakes, healthy, started together and linked like a real deployment: the
/// collector exports spans to Tempo (after a 50 ms batching delay), Grafana's Tempo datasource
/// proxies to Tempo, and Consul lists the Redis server (when given) and ArangoDB as services.
/// Used by `infraprobe-fakes` for the bench and the resilience scenario.
public final class FakeFleet: @unchecked Sendable {
    public static let consulToken = "consul-bench-token"
    public static let arangoPassword = "pw"
    public static let tempoDatasource = "P214B5B846CF3925F"

    let consul = FakeConsul(token: FakeFleet.consulToken)
    let arango = FakeArangoDB(password: FakeFleet.arangoPassword)
    let tempo = FakeTempo()
    let grafana = FakeGrafana()
    let otel = FakeOTelCollector()

    public init() {}

    var all: [(String, FakeService)] {
        [("consul", consul), ("arangodb", arango), ("tempo", tempo), ("grafana", grafana), ("otel", otel)]
    }

    /// Makes every fake answer after `latency`, like services across a network.
    public func setLatency(_ latency: Duration) {
        for (_, fake) in all { fake.latency.withLock { $0 = latency } }
    }

    public func start(redisAddress: String? = nil) throws {
        for (_, fake) in all { try fake.start() }
        // A short batching delay: with 1 s scrape timeouts (scripts/e2e.sh, resilience.sh) the probe has 0.5 s.
        otel.forward(to: tempo, delay: .milliseconds(50))
        let tempo = self.tempo
        grafana.proxyTempo { tempo.url("http") }
        if let redisAddress, let address = RedisAddress(redisAddress), case .tcp(let host, let port) = address {
            consul.seedService("redis-cache", id: "redis-cache-1", address: host, port: port, tags: ["redis"])
        }
        if let port = URLComponents(string: arango.url)?.port {
            consul.seedService("arangodb", id: "arangodb-1", port: port)
        }
    }

    public func stop() {
        for (_, fake) in all { fake.stop() }
    }

    /// Switches one fake (by its target name) to a state: `down` closes its ports, `up` reopens
    /// them; `drop`/`nodrop` make the collector drop accepted spans (a broken pipeline link).
    public func control(_ name: String, _ state: String) throws -> String {
        guard let fake = all.first(where: { $0.0 == name })?.1 else { return "unknown fake \(name)" }
        switch state {
        case "down": fake.takeDown()
        case "up": try fake.bringUp()
        case "drop" where fake === otel: otel.breakage.withLock { $0 = .dropsSpans }
        case "nodrop" where fake === otel: otel.breakage.withLock { $0 = .none }
        default: return "unknown state \(state) for \(name)"
        }
        return "ok"
    }

    /// From async code: see `FakeService.stopOffPool()`.
    public func stopOffPool() async {
        await BlockingExecutor.shared.run { self.stop() }
    }

    /// An infraprobe config with one target per fake (and Redis when given), plus the pipeline.
    public func config(redisAddress: String?, timeout: String = "10s") -> String {
        let services = (redisAddress == nil ? [] : ["redis-cache"]) + ["arangodb"]
        var lines = ["timeout: \(timeout)", "targets:"]
        if let redisAddress {
            lines += ["  redis:", "    prober: redis", "    address: \(redisAddress)"]
        }
        lines += [
            "  consul:", "    prober: consul", "    url: \(consul.url)", "    token: \(Self.consulToken)",
            "  arangodb:", "    prober: arangodb", "    url: \(arango.url)", "    username: root", "    password: \(Self.arangoPassword)",
            "  tempo:", "    prober: tempo", "    url: \(tempo.url("http"))", "    otlp_url: \(tempo.url("otlp"))",
            "  grafana:", "    prober: grafana", "    url: \(grafana.url)", "    token: \(grafana.token)",
            "  otel:", "    prober: otel_collector", "    health_url: \(otel.url("health"))/", "    otlp_url: \(otel.url("otlp"))",
            "    metrics_url: \(otel.url("metrics"))/metrics",
            "  flows:", "    prober: pipeline", "    collector: otel", "    tempo: tempo", "    grafana: grafana",
            "    grafana_tempo_datasource: \(Self.tempoDatasource)", "    consul: consul",
            "    consul_services: [\(services.joined(separator: ", "))]",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}
