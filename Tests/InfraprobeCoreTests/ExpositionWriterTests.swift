import Foundation
import Testing
@testable import InfraprobeCore

@Suite("Exposition writer")
struct ExpositionWriterTests {
    @Test func test_writer_escapesLabelValues_andHelp() {
        let family = MetricFamily.gauge("x_up", "Line one\nback\\slash", [([("target", "a\"b\\c\nd")], 1)])
        let text = ExpositionWriter.write([family], format: .text004)
        #expect(text == """
        # HELP x_up Line one\\nback\\\\slash
        # TYPE x_up gauge
        x_up{target="a\\"b\\\\c\\nd"} 1

        """)
    }

    @Test func test_writer_spellsSpecialValuesCanonically() {
        let family = MetricFamily.gauge("x_value", "v", [([("k", "a")], .infinity), ([("k", "b")], -.infinity), ([("k", "c")], .nan), ([("k", "d")], 0.25)])
        let lines = ExpositionWriter.write([family], format: .text004).split(separator: "\n").suffix(4)
        #expect(Array(lines) == ["x_value{k=\"a\"} +Inf", "x_value{k=\"b\"} -Inf", "x_value{k=\"c\"} NaN", "x_value{k=\"d\"} 0.25"])
    }

    @Test func test_writer_sortsFamiliesAndSeries_andWritesHelpOnce() {
        let b = MetricFamily.gauge("b_metric", "b", [([("t", "z")], 1), ([("t", "a")], 2)])
        let a = MetricFamily.gauge("a_metric", "a", [([("t", "x")], 3)])
        let moreB = MetricFamily.gauge("b_metric", "b", [([("t", "m")], 4)])
        let text = ExpositionWriter.write([b, a, moreB], format: .text004)
        #expect(text.components(separatedBy: "# HELP b_metric").count == 2)
        let samples = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(samples == ["a_metric{t=\"x\"} 3", "b_metric{t=\"a\"} 2", "b_metric{t=\"m\"} 4", "b_metric{t=\"z\"} 1"])
    }

    @Test func test_writer_dropsSeriesWithDuplicateLabelNames_andDuplicateSeries() {
        var family = MetricFamily(name: "x_dup", help: "d", kind: .gauge)
        family.add([("a", "1"), ("a", "2")], 1)
        family.add([("a", "1")], 1)
        family.add([("a", "1")], 2)
        let samples = ExpositionWriter.write([family], format: .text004).split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(samples == ["x_dup{a=\"1\"} 1"])
    }

    @Test func test_writer_namesCounters_perFormat() {
        let counter = MetricFamily.counter("x_requests", "r", [([("code", "200")], 5)])
        let text = ExpositionWriter.write([counter], format: .text004)
        #expect(text.contains("# TYPE x_requests_total counter\nx_requests_total{code=\"200\"} 5\n"))
        let open = ExpositionWriter.write([counter], format: .openMetrics100)
        #expect(open.contains("# TYPE x_requests counter\nx_requests_total{code=\"200\"} 5\n"))
        #expect(open.hasSuffix("# EOF\n"))
    }

    @Test func test_writer_ordersHistogramSamples_bucketsCountSum() {
        var histogram = MetricFamily(name: "x_seconds", help: "h", kind: .histogram, unit: "seconds")
        histogram.addHistogram([("p", "r")], bounds: [0.1, 1, 10], cumulativeCounts: [1, 2, 2], sum: 1.5, count: 3)
        let samples = ExpositionWriter.write([histogram], format: .openMetrics100).split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(samples == ["x_seconds_bucket{p=\"r\",le=\"0.1\"} 1", "x_seconds_bucket{p=\"r\",le=\"1\"} 2",
                            "x_seconds_bucket{p=\"r\",le=\"10\"} 2", "x_seconds_bucket{p=\"r\",le=\"+Inf\"} 3",
                            "x_seconds_count{p=\"r\"} 3", "x_seconds_sum{p=\"r\"} 1.5"])
    }

    @Test func test_negotiation_choosesOpenMetrics_onlyWhenAsked() {
        #expect(ExpositionFormat.negotiate(accept: nil) == .text004)
        #expect(ExpositionFormat.negotiate(accept: "text/plain;version=0.0.4;q=0.5,*/*;q=0.1") == .text004)
        #expect(ExpositionFormat.negotiate(accept: "application/openmetrics-text;version=1.0.0;q=0.75,text/plain;q=0.5") == .openMetrics100)
        #expect(ExpositionFormat.negotiate(accept: "application/openmetrics-text;q=0") == .text004)
    }

    @Test func test_probeMetrics_passPromtoolAndPythonParser_inBothFormats() async throws {
        var traced = Self.sampleResult(target: "ok", failure: nil)
        traced.traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        let results = [traced, Self.sampleResult(target: "we\"ird\\name", failure: ProbeFailure(.timeout, "slow"))]
        let selfMetrics = SelfMetrics(version: "1", revision: "r")
        selfMetrics.enableTraceCounters(reasons: TraceExporter.DropReason.allCases.map(\.rawValue))
        let families = ProbeMetrics.families(for: results, includeOverall: true) + selfMetrics.families()
        let text = ExpositionWriter.write(families, format: .text004)
        let open = ExpositionWriter.write(families, format: .openMetrics100)
        try await ExpositionCheck.promtool(text)
        try await ExpositionCheck.pythonParser(text, openMetrics: false)
        try await ExpositionCheck.pythonParser(open, openMetrics: true)
        #expect(text.contains("infraprobe_component_failure_info{target=\"we\\\"ird\\\\name\",prober=\"redis\",component=\"service_running\",reason=\"timeout\"} 1"))
        #expect(text.contains("infraprobe_overall_health_ratio 0.5"))
        #expect(open.contains("# {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 0.003 "), "the python OpenMetrics parser read an exemplar")
    }

    @Test func test_writer_putsExemplarOnTheBucketTheValueFellInto_onlyInOpenMetrics() {
        var family = MetricFamily(name: "x_duration_seconds", help: "d", kind: .histogram, unit: "seconds")
        let exemplar = MetricFamily.Exemplar(labels: [.init("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")], value: 0.03, timestamp: 1700000000.1234)
        family.addHistogram([("c", "a")], bounds: [0.01, 0.05, 0.1], cumulativeCounts: [0, 1, 1], sum: 0.03, count: 1, exemplar: exemplar)
        let open = ExpositionWriter.write([family], format: .openMetrics100).split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(open == [
            "x_duration_seconds_bucket{c=\"a\",le=\"0.01\"} 0",
            "x_duration_seconds_bucket{c=\"a\",le=\"0.05\"} 1 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 0.03 1700000000.123",
            "x_duration_seconds_bucket{c=\"a\",le=\"0.1\"} 1",
            "x_duration_seconds_bucket{c=\"a\",le=\"+Inf\"} 1",
            "x_duration_seconds_count{c=\"a\"} 1",
            "x_duration_seconds_sum{c=\"a\"} 0.03",
        ])
        #expect(!ExpositionWriter.write([family], format: .text004).contains("#  {"))
        #expect(!ExpositionWriter.write([family], format: .text004).contains("trace_id"))
    }

    @Test func test_writer_putsExemplarAboveEveryBound_onInfBucket() {
        var family = MetricFamily(name: "x_duration_seconds", help: "d", kind: .histogram)
        let exemplar = MetricFamily.Exemplar(labels: [.init("trace_id", "ab")], value: 7, timestamp: 1)
        family.addHistogram([], bounds: [1, 5], cumulativeCounts: [0, 0], sum: 7, count: 1, exemplar: exemplar)
        let lines = ExpositionWriter.write([family], format: .openMetrics100).split(separator: "\n").filter { $0.contains("trace_id") }
        #expect(lines == ["x_duration_seconds_bucket{le=\"+Inf\"} 1 # {trace_id=\"ab\"} 7 1.000"])
    }

    static func sampleResult(target: String, failure: ProbeFailure?) -> TargetProbeResult {
        TargetProbeResult(target: target, prober: "redis",
                          components: [ComponentResult(component: "service_running", duration: .milliseconds(3), failure: failure)],
                          facts: [ServiceFact(name: "infraprobe_redis_memory_used_bytes", help: "m", value: 1024)],
                          version: "7.0.15", duration: .milliseconds(4), startedAt: 0)
    }
}

/// Runs the real checkers on exposition text, as child processes waited for off the cooperative pool.
enum ExpositionCheck {
    static func promtool(_ text: String) async throws {
        try await BlockingExecutor.shared.run { Result { try promtoolBlocking(text) } }.get()
    }

    static func pythonParser(_ text: String, openMetrics: Bool) async throws {
        try await BlockingExecutor.shared.run { Result { try pythonParserBlocking(text, openMetrics: openMetrics) } }.get()
    }

    private static func promtoolBlocking(_ text: String) throws {
        let (status, out, err) = try Shell.capture("/usr/bin/promtool", ["check", "metrics"], input: text)
        guard status == 0, out.isEmpty, err.isEmpty else { throw TestFailure("promtool check metrics: \(status) \(out) \(err)") }
    }

    private static func pythonParserBlocking(_ text: String, openMetrics: Bool) throws {
        let module = openMetrics ? "prometheus_client.openmetrics.parser" : "prometheus_client.parser"
        let script = "import sys\nfrom \(module) import text_string_to_metric_families as p\nprint(sum(len(f.samples) for f in p(sys.stdin.read())))"
        let (status, out, err) = try Shell.capture("/usr/bin/env", ["python3", "-c", script], input: text)
        guard status == 0, let count = Int(out.trimmingCharacters(in: .whitespacesAndNewlines)), count > 0 else {
            throw TestFailure("python \(module): \(status) \(out) \(err)")
        }
    }
}
