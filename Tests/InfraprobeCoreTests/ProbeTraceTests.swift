import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// `--tracing.otlp-endpoint`: every probe becomes an OTLP trace the collector accepts, its id
/// the exemplar of the component-duration histogram; a dead or hanging endpoint never holds a probe up.
@Suite("Probe traces over OTLP/HTTP and their exemplars", .serialized)
struct ProbeTraceTests {
    static let openMetrics = ["Accept": "application/openmetrics-text; version=1.0.0"]
    static let histogram = "infraprobe_component_latency_seconds"

    func withStack(tracing: (FakeOTelCollector) -> TraceExporter.Options?,
                   _ body: (TestExporter, FakeOTelCollector) async throws -> Void) async throws {
        let redis = try RedisServer(["--requirepass", "never-shown-secret"])
        let hole = try BlackHoleListener()
        let collector = FakeOTelCollector()
        try collector.start()
        do {
            let exporter = try TestExporter(config: ExporterHTTPTests.Harness.config(redis: redis.address, hole: hole.address)) { $0.tracing = tracing(collector) }
            try await body(exporter, collector)
        } catch {
            await collector.stopOffPool()
            throw error
        }
        await collector.stopOffPool()
        _ = (redis, hole)
    }

    /// The trace ids the exemplars of one OpenMetrics exposition carry, by component.
    static func exemplarTraceIDs(_ exposition: String) -> [String: String] {
        var ids: [String: String] = [:]
        for line in exposition.split(separator: "\n") where line.hasPrefix(histogram + "_bucket{") {
            guard let marker = line.range(of: " # {trace_id=\""),
                  let component = line.range(of: "component=\"").map({ line[$0.upperBound...].prefix { $0 != "\"" } }) else { continue }
            ids[String(component)] = String(line[marker.upperBound...].prefix { $0 != "\"" })
        }
        return ids
    }

    static func spans(_ collector: FakeOTelCollector, traceID: String, atLeast count: Int) async throws -> [JSONValue] {
        for _ in 0..<100 {
            let spans = collector.receivedSpans.current.filter { $0["traceId"]?.string == traceID }
            if spans.count >= count { return spans }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("trace \(traceID) did not reach the collector within 5 s")
    }

    static func attribute(_ span: JSONValue, _ key: String) -> String? {
        span["attributes"]?.array?.first { $0["key"]?.string == key }?["value"]?["stringValue"]?.string
    }

    @Test("a probe's trace reaches the collector: a root span, a child span per component with its steps as events; the exemplar carries its trace id")
    func test_probeTrace_reachesCollector_withSpanPerComponent_andExemplarTraceID() async throws {
        try await withStack(tracing: { TraceExporter.Options(endpoint: $0.url("otlp")) }) { exporter, collector in
            let response = try await exporter.get("/probe?target=redis-main", headers: Self.openMetrics)
            #expect(response.status == 200)
            #expect(response.text.contains("# TYPE \(Self.histogram) histogram"), "\(response.text)")
            let ids = Self.exemplarTraceIDs(response.text)
            let components = RedisProber.descriptor.componentNames
            #expect(Set(ids.keys) == Set(components), "one exemplar per component: \(ids)")
            let traceID = try #require(ids["service_running"])
            #expect(traceID.count == 32 && traceID.allSatisfy(\.isHexDigit))
            #expect(Set(ids.values) == [traceID], "all components of one probe share its trace")

            let spans = try await Self.spans(collector, traceID: traceID, atLeast: components.count + 1)
            #expect(spans.count == components.count + 1)
            let root = try #require(spans.first { $0["parentSpanId"] == nil })
            #expect(root["name"]?.string == "probe redis")
            #expect(Self.attribute(root, "infraprobe.target") == "redis-main")
            #expect(root["status"] == nil, "a passing probe has no error status")
            let children = spans.filter { $0["parentSpanId"] != nil }
            #expect(children.allSatisfy { $0["parentSpanId"]?.string == root["spanId"]?.string })
            #expect(Set(children.compactMap { $0["name"]?.string }) == Set(components))
            let rootStart = try #require(root["startTimeUnixNano"]?.string.flatMap(UInt64.init))
            let rootEnd = try #require(root["endTimeUnixNano"]?.string.flatMap(UInt64.init))
            for child in children {
                #expect(Self.attribute(child, "infraprobe.component") == child["name"]?.string)
                #expect(Self.attribute(child, "infraprobe.prober") == "redis")
                let start = try #require(child["startTimeUnixNano"]?.string.flatMap(UInt64.init))
                let end = try #require(child["endTimeUnixNano"]?.string.flatMap(UInt64.init))
                #expect(rootStart <= start && start <= end && end <= rootEnd + 1_000_000, "\(child)")
                let events = child["events"]?.array ?? []
                #expect(!events.isEmpty, "every Redis check sends commands, each a step: \(child)")
                for event in events {
                    let time = try #require(event["timeUnixNano"]?.string.flatMap(UInt64.init))
                    #expect(rootStart <= time && time <= rootEnd + 1_000_000)
                    let name = event["name"]?.string ?? ""
                    #expect(!name.isEmpty)
                }
            }

            let classic = try await exporter.get("/probe?target=redis-main")
            #expect(classic.text.contains(Self.histogram + "_bucket{"))
            #expect(!classic.text.contains(" # {"), "the 0.0.4 text format has no exemplars")
            let metrics = try await exporter.get("/metrics")
            #expect(metrics.text.contains("infraprobe_traces_exported_total "))
            #expect(!metrics.text.contains("infraprobe_traces_exported_total 0\n"), "\(metrics.text)")
        }
    }

    @Test("a failing component's span has status ERROR with the reason, and the reason as attribute")
    func test_probeTrace_failedComponent_hasErrorStatusWithReason() async throws {
        try await withStack(tracing: { TraceExporter.Options(endpoint: $0.url("otlp")) }) { exporter, collector in
            let response = try await exporter.get("/probe?target=redis-hung", headers: Self.openMetrics)
            #expect(response.text.contains("probe_success{target=\"redis-hung\"} 0"))
            let traceID = try #require(Self.exemplarTraceIDs(response.text)["service_running"])
            let spans = try await Self.spans(collector, traceID: traceID, atLeast: RedisProber.descriptor.componentNames.count + 1)
            let root = try #require(spans.first { $0["parentSpanId"] == nil })
            #expect(root["status"]?["code"]?.double == 2)
            let gate = try #require(spans.first { $0["name"]?.string == "service_running" })
            #expect(gate["status"]?["code"]?.double == 2)
            #expect(gate["status"]?["message"]?.string?.hasPrefix("timeout: ") == true, "\(gate)")
            #expect(Self.attribute(gate, "infraprobe.reason") == "timeout")
            let skipped = try #require(spans.first { $0["name"]?.string == "basic_operations" })
            #expect(Self.attribute(skipped, "infraprobe.reason") == "dependency_failed")
        }
    }

    @Test("tracing off (the default): no exemplars, no trace counters, nothing sent")
    func test_tracingOff_writesNoExemplars_andNoTraceCounters() async throws {
        try await withStack(tracing: { _ in nil }) { exporter, collector in
            let response = try await exporter.get("/probe?target=redis-main", headers: Self.openMetrics)
            #expect(response.text.contains(Self.histogram + "_bucket{"))
            #expect(!response.text.contains(" # {"), "no trace, so no exemplar pointing at one")
            let metrics = try await exporter.get("/metrics")
            #expect(!metrics.text.contains("infraprobe_traces_"))
            #expect(collector.counters.current.acceptedSpans == 0)
        }
    }

    @Test("spans carry no secret, and debug=true names the probe's trace")
    func test_probeTrace_carriesNoSecret_andDebugNamesTrace() async throws {
        try await withStack(tracing: { TraceExporter.Options(endpoint: $0.url("otlp")) }) { exporter, collector in
            let debug = try await exporter.get("/probe?target=redis-main&debug=true")
            let traceID = try #require(debug.text.split(separator: "\n").first { $0.hasPrefix("Trace ") }.map { String($0.dropFirst(6)) })
            let spans = try await Self.spans(collector, traceID: traceID, atLeast: RedisProber.descriptor.componentNames.count + 1)
            #expect(spans.allSatisfy { $0["status"] == nil }, "authenticated with the password: every component passed")
            let sent = spans.map { String(decoding: $0.serialized, as: UTF8.self) }.joined()
            #expect(!sent.contains("never-shown-secret"))
        }
    }

    @Test("a hanging OTLP endpoint: probes still pass, exports time out and are counted, the queue stays bounded")
    func test_traceExport_toHangingEndpoint_neverHoldsProbes_andCountsDrops() async throws {
        try await withStack(tracing: { collector in
            collector.fault = .hang
            var options = TraceExporter.Options(endpoint: collector.url("otlp"))
            options.queueCapacity = 3
            options.exportTimeout = .milliseconds(300)
            options.initialBackoff = .milliseconds(100)
            return options
        }) { exporter, collector in
            for _ in 0..<8 {
                let response = try await exporter.get("/probe?target=redis-main")
                #expect(response.text.contains("probe_success{target=\"redis-main\"} 1"), "\(response.text)")
            }
            let tracer = try #require(exporter.runtime.service.tracer)
            #expect(tracer.queued <= 3)
            var dropped: [String: Double] = [:]
            for _ in 0..<40 {
                dropped = Self.dropped(exporter.runtime.service.metrics)
                if dropped["send_failed", default: 0] >= 1 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(dropped["send_failed", default: 0] >= 1, "\(dropped)")
            #expect(collector.receivedSpans.current.isEmpty)
        }
    }

    @Test("submit never waits: thousands of traces against a dead endpoint leave at most the queue's capacity, the rest counted")
    func test_traceExporter_toDeadEndpoint_dropsBeyondCapacity_andCountsSendFailures() async throws {
        let closed = ClosedPort()
        let metrics = SelfMetrics(version: "test", revision: "test")
        var options = TraceExporter.Options(endpoint: "http://127.0.0.1:\(closed.port)")
        options.queueCapacity = 50
        options.initialBackoff = .milliseconds(50)
        let tracer = TraceExporter(options: options, metrics: metrics, instanceID: "test-host-1", client: HTTPClient.shared)
        tracer.start()
        defer { tracer.stop(); _ = closed }
        let result = TargetProbeResult(target: "t", prober: "redis", components: [ComponentResult(component: "service_running", duration: .milliseconds(2), failure: nil,
                                       steps: [ProbeStep(offset: .milliseconds(1), text: "PING → PONG")])],
                                       facts: [], version: nil, duration: .milliseconds(3), startedAt: Date().timeIntervalSince1970)
        var accepted = 0
        for _ in 0..<5000 where tracer.submit(ProbeTrace(result: result)) { accepted += 1 }
        #expect(tracer.queued <= 50)
        let queueGauge = metrics.families().first { $0.name == "infraprobe_trace_queue_length" }?.samples.first?.value
        #expect(queueGauge.map { $0 <= 50 } == true, "\(String(describing: queueGauge))")
        var dropped: [String: Double] = [:]
        for _ in 0..<50 {
            dropped = Self.dropped(metrics)
            if dropped["send_failed", default: 0] >= 1 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(dropped["queue_full", default: 0] == Double(5000 - accepted))
        #expect(accepted < 5000 && accepted >= 50)
        #expect(dropped["send_failed", default: 0] >= 1, "a refused connection counts as send_failed: \(dropped)")
    }

    static func dropped(_ metrics: SelfMetrics) -> [String: Double] {
        var counts: [String: Double] = [:]
        for sample in metrics.families().first(where: { $0.name == "infraprobe_traces_dropped" })?.samples ?? [] {
            if let reason = sample.labels.first(where: { $0.name == "reason" })?.value { counts[reason] = sample.value }
        }
        return counts
    }

    @Test("a bad --tracing.* flag is refused at start with a one-line reason", arguments: [
        ["--tracing.otlp-endpoint", "ftp://collector:4318"], ["--tracing.otlp-endpoint", "http://user:pass@collector:4318"],
        ["--tracing.queue-size", "0"], ["--tracing.export-timeout", "nan"],
    ])
    func test_tracingFlags_rejectBadValues(_ flags: [String]) async throws {
        let (status, output) = try await BlockingExecutor.shared.run {
            Result { try SpawnedExporter.run(["--config.file", "/nonexistent.yml"] + flags) }
        }.get()
        #expect(status != 0)
        #expect(output.contains("--tracing."), "\(output)")
        #expect(!output.contains("pass@"), "credentials are not echoed")
    }
}
