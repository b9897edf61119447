import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// Numbers from outside (request headers, config durations, service answers) are range-checked
/// before any conversion that can trap: out of range is a 400, a file:line:key error, or an
/// `unexpected_response`, and the process goes on.
@Suite("Numbers from outside never trap")
struct NumericInputTests {
    static let fourHundredDigits = String(repeating: "9", count: 400)

    // MARK: request headers

    @Test("the real exporter answers 400 to a 1e21 scrape timeout and keeps serving probes")
    func test_scrapeTimeoutHeader_rejects1e21_with400() async throws {
        let redis = try await RedisServer.make()
        let configFile = redis.directory.appendingPathComponent("numbers.yml")
        try "targets:\n  redis-local:\n    prober: redis\n    address: \(redis.address)\n".write(to: configFile, atomically: true, encoding: .utf8)
        let exporter = try await BlockingExecutor.shared.run {
            Result { try SpawnedExporter(configFile: configFile.path, directory: redis.directory) }
        }.get()
        let base = exporter.base
        func get(_ header: String?) async throws -> Fetched {
            try await BlockingExecutor.shared.run {
                Result { try HTTPFetch.get(base + "/probe?target=redis-local", headers: header.map { ["X-Prometheus-Scrape-Timeout-Seconds": $0] } ?? [:], maxTime: 10) }
            }.get()
        }
        for header in ["1e21", "1e400", Self.fourHundredDigits, "NaN", "-1", "inf"] {
            let rejected = try await get(header)
            #expect(rejected.status == 400, "\(header.prefix(20)): \(rejected.status) \(rejected.text)")
            #expect(rejected.text.contains("X-Prometheus-Scrape-Timeout-Seconds"), "\(rejected.text)")
        }
        let served = try await get("5")
        #expect(served.status == 200 && served.text.contains("probe_success{target=\"redis-local\"} 1"), "\(served.text)")
        #expect(exporter.process.isRunning)
        let status = await BlockingExecutor.shared.run { exporter.stop() }
        #expect(status == 0)
    }

    @Test("--probe.timeout-offset out of range is refused at start, not a trap", arguments: ["1e300", "NaN", "-1", "3601", "inf"])
    func test_timeoutOffsetFlag_outOfRange_isRefused(_ value: String) async throws {
        let (status, output) = try await BlockingExecutor.shared.run {
            Result { try SpawnedExporter.run(["--config.file", "/nonexistent.yml", "--probe.timeout-offset", value, "--web.listen-address", "127.0.0.1:1"]) }
        }.get()
        #expect(status != 0 && status < 128, "status \(status): \(output)")
        #expect(output.contains("--probe.timeout-offset") || output.contains("probe.timeout-offset"), "\(output)")
    }

    @Test("a bad scrape-timeout header is a 400 on every /probe form: one target, all targets, a module")
    func test_scrapeTimeoutHeader_is400_onEveryProbeForm() async throws {
        let exporter = try TestExporter(config: """
        targets:
          redis-local:
            prober: redis
            address: 127.0.0.1:1
        modules:
          cache:
            prober: redis
            allowed_targets: ["127.0.0.1:*"]
        """)
        for path in ["/probe?target=redis-local", "/probe", "/probe?module=cache&target=127.0.0.1:1", "/probe?target=redis-local&debug=true"] {
            let response = try await exporter.get(path, headers: ["X-Prometheus-Scrape-Timeout-Seconds": "1e21"])
            #expect(response.status == 400, "\(path): \(response.status) \(response.text)")
        }
        #expect(try await exporter.get("/-/healthy").status == 200)
    }

    // MARK: config durations

    @Test("a duration far beyond the range (even beyond what Duration holds) is a config error naming file, line and key",
          arguments: ["999999999999999999999999999999h", fourHundredDigits + "s", "3651d", "87601h1s"])
    func test_configDuration_outOfRange_isErrorWithFileLineKey(_ text: String) {
        do {
            _ = try Probe.config("targets:\n  main:\n    prober: redis\n    address: 127.0.0.1:6379\n    timeout: \(text)\n")
            Issue.record("expected a config error for \(text.prefix(30))")
        } catch let error as ConfigError {
            #expect(error.line == 5, "\(error)")
            #expect(error.key == "targets.main.timeout", "\(error)")
            #expect(error.description.hasPrefix("test.yml:5:"), "\(error)")
            #expect(error.description.contains("must be between 1ms and 3600s"), "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func test_durationParser_rangeChecksBeforeConverting() {
        #expect(DurationParser.parseChecked("3650d") == .success(DurationParser.maximum))
        #expect(DurationParser.parseChecked("3650d1ms") == .failure(.outOfRange))
        #expect(DurationParser.parseChecked(Self.fourHundredDigits + "ms") == .failure(.outOfRange))
        #expect(DurationParser.parseChecked("1e3s") == .failure(.malformed))
        #expect(DurationParser.parseChecked("٣s") == .failure(.malformed), "only ASCII digits")
        #expect(DurationParser.parseChecked("nans") == .failure(.malformed))
        #expect(DurationParser.parse("1m30s") == .seconds(90))
    }

    // MARK: numbers in service answers

    @Test func test_jsonNumberAccessors_readNonFiniteAndHugeAsNoNumber() throws {
        let answer = try #require(JSONValue.parse(Array("{\"a\":1e999,\"b\":\"NaN\",\"c\":\"inf\",\"d\":1e300,\"e\":\(Self.fourHundredDigits),\"f\":\"42\"}".utf8)))
        #expect(answer["a"]?.double == nil)
        #expect(answer["b"]?.double == nil)
        #expect(answer["c"]?.double == nil)
        #expect(answer["d"]?.double == 1e300)
        #expect(answer["d"]?.int == nil)
        #expect(answer["e"]?.int == nil)
        #expect(answer["f"]?.int == 42)
    }

    @Test("Redis INFO byte and second counts: anything but an unsigned decimal is unexpected_response",
          arguments: ["-1", "1e300", "nan", "inf", fourHundredDigits, "18446744073709551616", "12abc", ""])
    func test_redisInfoCount_rejectsNonCounts(_ value: String) throws {
        let info = RedisInfo("# Memory\r\nused_memory:\(value)\r\nmaxmemory:0\r\n")
        #expect(throws: ProbeFailure.self) { try info.count("used_memory") }
        do { _ = try info.count("used_memory") } catch let failure as ProbeFailure {
            #expect(failure.reason == .unexpectedResponse)
        } catch { Issue.record("\(error)") }
        #expect(try info.count("maxmemory") == 0)
        #expect(try info.count("absent") == nil)
    }

    @Test func test_redisInfo_readsFieldsLineByLine_fromTheReplyBytes() {
        let text = "# Server\r\nredis_version:7.0.15\r\n#not:a field\r\nlist:a:b:c\r\nempty:\r\nbare\r\n\r\nused_memory:1\nused_memory:2\r\nlast:no newline"
        for info in [RedisInfo(text), RedisInfo(reply: .bulk(Array(text.utf8)))] {
            #expect(info["redis_version"] == "7.0.15")
            #expect(info["#not"] == nil)
            #expect(info["list"] == "a:b:c")
            #expect(info["list:a"] == nil)
            #expect(info["empty"] == "")
            #expect(info["bare"] == nil)
            #expect(info["used_memory"] == "2")
            #expect(info["used"] == nil)
            #expect(info["last"] == "no newline")
            #expect(info["Server"] == nil)
        }
        #expect(RedisInfo(reply: .null)["redis_version"] == nil)
    }

    static let hostileTokens = ["1e300", "-1", "1e999", fourHundredDigits, "NaN", "\"NaN\"", "\"1e300\"", "\"-5\"", "1.5e18"]

    @Test("an OTLP push answered with a hostile rejected count is unexpected_response (collector and Tempo)",
          arguments: hostileTokens)
    func test_otlpPush_hostileRejectedCount_isUnexpectedResponse(_ token: String) async throws {
        let collector = FakeOTelCollector()
        try collector.start()
        let tempo = FakeTempo()
        try tempo.start()
        collector.hostile.withLock { $0 = .otlpRejected(token) }
        tempo.hostile.withLock { $0 = .otlpRejected(token) }
        let otel = try await ProbeHarness.probe("otel_collector", [
            "health_url: \(collector.url("health"))/", "otlp_url: \(collector.url("otlp"))", "metrics_url: \(collector.url("metrics"))/metrics"])
        let tempoOutcome = try await ProbeHarness.probe("tempo", ["url: \(tempo.url("http"))", "otlp_url: \(tempo.url("otlp"))"])
        await collector.stopOffPool()
        await tempo.stopOffPool()
        for component in ["otlp_traces_ingest", "otlp_metrics_ingest"] {
            #expect(otel.reason(component) == .unexpectedResponse, "\(otel.summary)")
            let message = otel.component(component)?.failure?.message ?? ""
            #expect(!message.unicodeScalars.contains { $0.value < 0x20 }, "control characters in \(message)")
        }
        #expect(otel.up("service_running") && otel.up("self_metrics"), "\(otel.summary)")
        #expect(tempoOutcome.reason("trace_ingest") == .unexpectedResponse, "\(tempoOutcome.summary)")
        #expect(otel.elapsed < .seconds(2) && tempoOutcome.elapsed < .seconds(2))
    }

    @Test("a zero rejected count, as a string or a number, still passes")
    func test_otlpPush_zeroRejectedCount_passes() async throws {
        let collector = FakeOTelCollector()
        try collector.start()
        collector.hostile.withLock { $0 = .otlpRejected("\"0\"") }
        let outcome = try await ProbeHarness.probe("otel_collector", [
            "health_url: \(collector.url("health"))/", "otlp_url: \(collector.url("otlp"))", "metrics_url: \(collector.url("metrics"))/metrics"])
        await collector.stopOffPool()
        #expect(outcome.allUp, "\(outcome.summary)")
    }

    /// Every number every fake answers with (JSON numbers, jsonpb integer strings, Prometheus
    /// sample values) replaced by a hostile token: no trap, each failing component says
    /// `unexpected_response` (or was not attempted), and the probe ends before its deadline.
    @Test("hostile numbers in every field of every HTTP service", arguments: hostileTokens)
    func test_hostileNumbers_inEveryServiceAnswer_giveUnexpectedResponse(_ token: String) async throws {
        let fleet = FakeFleet()
        try fleet.start()
        for (_, fake) in fleet.all { fake.hostile.withLock { $0 = .numbers(token) } }
        let arangoPassword = try ProbeHarness.secretFile(FakeFleet.arangoPassword)
        let probes: [(String, [String])] = [
            ("consul", ["url: \(fleet.consul.url)", "token: \(FakeFleet.consulToken)"]),
            ("arangodb", ["url: \(fleet.arango.url)", "username: root", "password_file: \(arangoPassword)"]),
            ("tempo", ["url: \(fleet.tempo.url("http"))", "otlp_url: \(fleet.tempo.url("otlp"))"]),
            ("grafana", ["url: \(fleet.grafana.url)", "token: \(fleet.grafana.token)"]),
            ("otel_collector", ["health_url: \(fleet.otel.url("health"))/", "otlp_url: \(fleet.otel.url("otlp"))",
                                "metrics_url: \(fleet.otel.url("metrics"))/metrics"]),
        ]
        var outcomes: [(String, ProbeHarness.Outcome)] = []
        for (kind, settings) in probes {
            outcomes.append((kind, try await ProbeHarness.probe(kind, settings)))
        }
        await BlockingExecutor.shared.run { fleet.stop() }
        for (kind, outcome) in outcomes {
            for component in outcome.result.components {
                guard let failure = component.failure else { continue }
                #expect([.unexpectedResponse, .dependencyFailed].contains(failure.reason),
                        "\(kind)/\(component.component) with \(token.prefix(20)): \(failure)")
            }
            #expect(outcome.elapsed < .seconds(2), "\(kind) took \(outcome.elapsed)")
        }
        let arango = try #require(outcomes.first { $0.0 == "arangodb" }?.1)
        // The collection type and document counts are numbers the prober checks.
        #expect(arango.reason("collection_operations") == .unexpectedResponse, "\(arango.summary)")
        #expect(arango.reason("telemetry_operations") == .unexpectedResponse, "\(arango.summary)")
    }

    @Test("an ArangoDB cursor that answers hasMore forever: a bounded number of follow-ups, then unexpected_response, cursor freed")
    func test_arangoCursor_endlessHasMore_isBounded() async throws {
        let fake = FakeArangoDB()
        try fake.start()
        fake.breakage.withLock { $0 = .endlessCursor }
        let outcome = try await ProbeHarness.probe("arangodb", ["url: \(fake.url)", "username: root",
                                                                "password_file: \(try ProbeHarness.secretFile("pw"))"])
        await fake.stopOffPool()
        for component in ["graph_operations", "metadata_operations", "telemetry_operations"] {
            #expect(outcome.reason(component) == .unexpectedResponse, "\(outcome.summary)")
            #expect(outcome.component(component)?.failure?.message.contains("still has more") == true, "\(outcome.summary)")
        }
        #expect(fake.cursorFollowUps.current == 3 * ArangoDBProber.maxCursorFollowUps)
        #expect(fake.cursorDeletes.current == 3)
        #expect(outcome.elapsed < .seconds(2))
    }
}
