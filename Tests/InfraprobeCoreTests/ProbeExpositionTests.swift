import Testing
@testable import InfraprobeCore

/// `/probe` writes its metrics straight from the results; the bytes must be the ones the
/// MetricFamily path (`ProbeMetrics.families` through `ExpositionWriter`) gives for the same results.
@Suite("Probe exposition")
struct ProbeExpositionTests {
    @Test(arguments: [ExpositionFormat.text004, .openMetrics100])
    func test_directRendering_equalsMetricFamilyRendering_forOneTarget(format: ExpositionFormat) throws {
        for (name, result) in Self.singleTargetCases {
            let direct = try #require(ProbeExposition.direct([result], includeOverall: false, format: format), "\(name) took the general path")
            let families = ExpositionWriter.writeBytes(ProbeMetrics.families(for: [result], includeOverall: false), format: format)
            #expect(String(decoding: direct, as: UTF8.self) == String(decoding: families, as: UTF8.self), "\(name)")
        }
    }

    @Test(arguments: [ExpositionFormat.text004, .openMetrics100])
    func test_directRendering_equalsMetricFamilyRendering_forEveryTarget_withOverallRatio(format: ExpositionFormat) throws {
        let results = Self.singleTargetCases.map(\.result)
        for list in [results, results.reversed(), [], [results[0]], [Self.result(target: "z", components: []), results[1]]] {
            let direct = try #require(ProbeExposition.direct(list, includeOverall: true, format: format))
            let families = ExpositionWriter.writeBytes(ProbeMetrics.families(for: list, includeOverall: true), format: format)
            #expect(String(decoding: direct, as: UTF8.self) == String(decoding: families, as: UTF8.self), "\(list.map(\.target))")
        }
    }

    @Test(arguments: [ExpositionFormat.text004, .openMetrics100])
    func test_render_takesTheGeneralPath_whenNamesCouldSortOrMergeOtherwise(format: ExpositionFormat) {
        let ok = Self.result(target: "a")
        let cases: [(String, [TargetProbeResult])] = [
            ("non-ASCII target", [Self.result(target: "caf\u{E9}"), Self.result(target: "cafe\u{301}x")]),
            ("control character in a component", [Self.result(target: "a", components: ["x\u{1}", "x"])]),
            ("repeated component", [Self.result(target: "a", components: ["ping", "ping"], failures: ["ping": ProbeFailure(.auth, "second")])]),
            ("repeated target", [ok, Self.result(target: "a", failures: ["read": ProbeFailure(.timeout, "other")])]),
            ("fact named like a fixed family", [Self.result(target: "a", facts: [ServiceFact(name: "probe_success", help: "clash", value: 7)])]),
        ]
        for (name, results) in cases {
            #expect(ProbeExposition.direct(results, includeOverall: true, format: format) == nil, "\(name)")
            let rendered = ProbeExposition.render(results, includeOverall: true, format: format)
            #expect(rendered == ExpositionWriter.writeBytes(ProbeMetrics.families(for: results, includeOverall: true), format: format), "\(name)")
        }
    }

    @Test func test_directRendering_passesPromtoolAndPythonParser() async throws {
        // Trace ids are hex; prometheus_client's exemplar parser does not read an escaped quote.
        let results = Self.singleTargetCases.filter { $0.name != "exemplar that needs escaping" }.map(\.result)
        let text = String(decoding: ProbeExposition.render(results, includeOverall: true, format: .text004), as: UTF8.self)
        let open = String(decoding: ProbeExposition.render(results, includeOverall: true, format: .openMetrics100), as: UTF8.self)
        try await ExpositionCheck.promtool(text)
        try await ExpositionCheck.pythonParser(text, openMetrics: false)
        try await ExpositionCheck.pythonParser(open, openMetrics: true)
    }

    @Test func test_integerValues_areSpelledAsStringSpellsThem() {
        for value: Int64 in [0, 7, 10, 99, 100, 1_700_000_000, -1, -10, -987_654_321, 999_999_999_999_999, .max, .min] {
            var out: [UInt8] = []
            ExpositionWriter.appendInteger(value, into: &out)
            #expect(String(decoding: out, as: UTF8.self) == String(value))
        }
        for value in [0.0, -0.0, 1, 0.25, 1e15, 1e15 - 1, -1e15 + 1, 123.456, .nan, .infinity, -.infinity, .leastNonzeroMagnitude] {
            var out: [UInt8] = []
            ExpositionWriter.appendValue(value, into: &out)
            #expect(String(decoding: out, as: UTF8.self) == ExpositionWriter.formatValue(value), "\(value)")
        }
    }

    /// Passing and failing checks, durations in every bucket and above the last, reasons and
    /// names that need escaping, cadence, reuse, versions, facts and exemplars.
    static let singleTargetCases: [(name: String, result: TargetProbeResult)] = {
        var traced = result(target: "traced", durations: ["ping": .microseconds(4321), "read": .seconds(31), "write": .milliseconds(25)])
        traced.traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        var longTrace = result(target: "long-trace")
        longTrace.traceID = String(repeating: "ab", count: 70)
        var quotedTrace = result(target: "quoted-trace")
        quotedTrace.traceID = "a\"b\\c"
        var cadenced = result(target: "cadenced", facts: [ServiceFact(name: "infraprobe_redis_uptime_seconds", help: "other \\ help", value: 9)])
        cadenced.runIntervals = ["read": .seconds(300), "ping": .milliseconds(1500)]
        cadenced.reused = true
        let every = SelfMetrics.durationBuckets.enumerated().map { index, bound in
            ("c\(index)", Duration.nanoseconds(Int64((bound * 1e9).rounded())))
        }
        return [
            ("all passing", result(target: "redis-main")),
            ("failures with reasons and hops", result(target: "pipe", prober: "pipeline", failures: [
                "read": ProbeFailure(.timeout, "no answer within 5s"),
                "write": ProbeFailure(.unexpectedResponse, "got \"ERR\"\nnext line", hop: "collector\\tempo \"q\""),
            ])),
            ("escaped target, prober and component", result(target: "we\"ird\\name\nx", prober: "re\"dis", components: ["a\\b", "q\"", "n\nl"],
                                                            failures: ["q\"": ProbeFailure(.auth, "denied")])),
            ("version that needs escaping", result(target: "v", version: "7.0 \"custom\"\\build")),
            ("no version", result(target: "nov", version: nil)),
            ("no components", result(target: "empty", components: [])),
            ("every bound exactly", result(target: "bounds", components: every.map(\.0), durations: Dictionary(uniqueKeysWithValues: every))),
            ("exemplars", traced),
            ("exemplar labels over 128 characters", longTrace),
            ("exemplar that needs escaping", quotedTrace),
            ("cadence and reuse", cadenced),
            ("facts", result(target: "facts", facts: [
                ServiceFact(name: "infraprobe_redis_memory_used_bytes", help: "Used \"memory\"\nbytes.", value: 1_048_576),
                ServiceFact(name: "aaa_first_fact", help: "sorted before the fixed families", labels: ["z": "1", "a": "q\""], value: 0.5),
                ServiceFact(name: "zzz_last_fact", help: "sorted after them", labels: ["target": "clash"], value: 2),
                ServiceFact(name: "infraprobe_redis_memory_used_bytes", help: "again", labels: ["db": "1"], value: 3),
            ])),
            ("facts as Redis reports them", result(target: "redis-facts", facts: [
                ServiceFact(name: "infraprobe_redis_uptime_seconds", help: "Seconds since the Redis server started.", value: 86_400),
                ServiceFact(name: "infraprobe_redis_connect_seconds", help: "Seconds to connect.", value: 0.000_412_7),
                ServiceFact(name: "infraprobe_redis_memory_used_bytes", help: "Memory used by Redis (INFO used_memory).", value: 1_048_576),
                ServiceFact(name: "infraprobe_redis_memory_max_bytes", help: "Redis maxmemory limit; 0 means no limit.", value: 0),
                ServiceFact(name: "aaa_unlabelled", help: "sorted first", value: -2.5),
            ])),
            ("fractional timestamps", result(target: "time", startedAt: 1_764_622_207.123_456, lastRunAt: 1_764_622_100.5)),
        ]
    }()

    static func result(target: String, prober: String = "redis", components: [String] = ["service_running", "ping", "write", "read"],
                       durations: [String: Duration] = [:], failures: [String: ProbeFailure] = [:], facts: [ServiceFact] = [],
                       version: String? = "7.2.4", startedAt: Double = 1_700_000_000, lastRunAt: Double? = nil) -> TargetProbeResult {
        let checks = components.enumerated().map { index, name in
            var check = ComponentResult(component: name, duration: durations[name] ?? .microseconds(800 + 337 * Int64(index)),
                                        failure: failures[name])
            check.startOffset = .microseconds(150 * Int64(index))
            check.lastRunAt = lastRunAt ?? startedAt
            return check
        }
        return TargetProbeResult(target: target, prober: prober, components: checks, facts: facts, version: version,
                                 duration: .microseconds(4_321 + 100 * Int64(components.count)), startedAt: startedAt)
    }
}
