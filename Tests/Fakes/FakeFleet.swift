import Foundation
import InfraprobeCore

/// All five HTTP fakes, healthy, started together; used by `infraprobe-fakes` for the bench.
public final class FakeFleet: @unchecked Sendable {
    public static let consulToken = "consul-bench-token"
    public static let arangoPassword = "pw"

    let consul = FakeConsul(token: FakeFleet.consulToken)
    let arango = FakeArangoDB(password: FakeFleet.arangoPassword)
    let tempo = FakeTempo()
    let grafana = FakeGrafana()
    let otel = FakeOTelCollector()

    public init() {}

    public func start() throws {
        for fake in [consul, arango, tempo, grafana, otel] as [FakeService] { try fake.start() }
    }

    public func stop() {
        for fake in [consul, arango, tempo, grafana, otel] as [FakeService] { fake.stop() }
    }

    /// From async code: see `FakeService.stopOffPool()`.
    public func stopOffPool() async {
        await BlockingExecutor.shared.run { self.stop() }
    }

    /// An infraprobe config with one target per fake (and Redis when given).
    public func config(redisAddress: String?, timeout: String = "10s") -> String {
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
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}
