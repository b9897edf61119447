import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// Real Prometheus with `--enable-feature=exemplar-storage` scrapes `/probe` (negotiating
/// OpenMetrics, its default) and hands the component histogram's exemplar back through
/// `/api/v1/query_exemplars`: the trace id a Grafana panel follows into Tempo.
@Suite("Exemplars in real Prometheus exemplar storage", .serialized)
struct ExemplarStorageTests {
    @Test("Prometheus stores the exemplar of /probe and returns it with the trace id the collector received")
    func test_prometheus_returnsProbeExemplar_withExportedTraceID() async throws {
        let redis = try RedisServer()
        let collector = FakeOTelCollector()
        try collector.start()
        do {
            try await expectExemplar(redis: redis, collector: collector)
        } catch {
            await collector.stopOffPool()
            throw error
        }
        await collector.stopOffPool()
    }

    func expectExemplar(redis: RedisServer, collector: FakeOTelCollector) async throws {
        let exporter = try TestExporter(config: """
            targets:
              redis-main:
                prober: redis
                address: \(redis.address)
            """) { $0.tracing = TraceExporter.Options(endpoint: collector.url("otlp")) }

        let prometheus = try PrometheusServer(scrapeConfig: """
            scrape_configs:
              - job_name: infraprobe
                metrics_path: /probe
                params: {target: [redis-main]}
                static_configs: [{targets: ['127.0.0.1:\(exporter.port)']}]
            """, in: exporter.directory)
        defer { prometheus.stop() }

        let query = "infraprobe_component_latency_seconds_bucket{component=\"service_running\"}"
        var exemplars: [JSONValue] = []
        for _ in 0..<100 where exemplars.isEmpty {
            try await Task.sleep(for: .milliseconds(250))
            let now = Date().timeIntervalSince1970
            let url = prometheus.base + "/api/v1/query_exemplars?query=\(urlEncode(query))&start=\(Int(now) - 300)&end=\(Int(now) + 60)"
            guard let answer = try? await HTTPFetch.getOffPool(url), answer.status == 200,
                  let json = JSONValue.parse(Array(answer.body)) else { continue }
            exemplars = (json["data"]?.array ?? []).flatMap { $0["exemplars"]?.array ?? [] }
        }
        let exemplar = try #require(exemplars.first, "no exemplar from Prometheus within 25 s")
        let traceID = try #require(exemplar["labels"]?["trace_id"]?.string)
        #expect(traceID.count == 32)
        let value = try #require(exemplar["value"]?.string.flatMap(Double.init))
        #expect(value > 0 && value < 5, "the exemplar's value is the component's duration in seconds")
        var received = false
        for _ in 0..<100 where !received {
            received = collector.receivedSpans.current.contains { $0["traceId"]?.string == traceID && $0["name"]?.string == "service_running" }
            if !received { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(received, "the exemplar's trace reached the collector as a service_running span")
    }
}

/// A real `prometheus` on a free loopback port with a temporary config and TSDB, exemplar storage on.
final class PrometheusServer: @unchecked Sendable {
    let port: Int
    private let process: ChildProcess
    var base: String { "http://127.0.0.1:\(port)" }

    init(scrapeConfig: String, in directory: URL) throws {
        let config = directory.appendingPathComponent("prometheus.yml")
        try ("global: {scrape_interval: 1s, scrape_timeout: 1s}\n" + scrapeConfig).write(to: config, atomically: true, encoding: .utf8)
        port = try FreePort.pick()
        let log = directory.appendingPathComponent("prometheus.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process = try ChildProcess.spawn("/usr/bin/prometheus", [
            "--config.file=\(config.path)", "--storage.tsdb.path=\(directory.appendingPathComponent("tsdb").path)",
            "--web.listen-address=127.0.0.1:\(port)", "--enable-feature=exemplar-storage", "--log.level=warn",
        ], output: try FileHandle(forWritingTo: log))
    }

    func stop() { process.killAndWait() }
}
