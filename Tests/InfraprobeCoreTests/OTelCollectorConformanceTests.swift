import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// The collector's real OTLP/HTTP answers, health_check expectations and self-metric families
/// (`../shared/conformance/otelcol`, read at test time): the prober's push handling and
/// self-metrics reading run against them, and FakeOTelCollector's answers are compared with them.
@Suite("OpenTelemetry Collector against its recorded answers")
struct OTelCollectorConformanceTests {
    static func recorded(_ file: String) throws -> RecordedResponse {
        try Transcript.load("otelcol/otlp-http/" + file).response()
    }

    /// Recorded answer → what `otlp_traces_ingest` must report (nil = up).
    static let pushCases: [(String, FailureReason?)] = [
        ("200-accepted-json.http", nil),
        // The collector's own round-trip fixture: rejectedSpans is an int64, written as a JSON string.
        ("200-partial-success-json.http", .unexpectedResponse),
        ("400-bad-gzip.http", .protocol),
        ("415-unsupported-media-type.http", .protocol),
        ("405-method-not-allowed.http", .httpStatus),
        ("500-permanent-consumer-error.http", .httpStatus),
        // A retryable pipeline refusal (memory_limiter, full queue): the collector is overloaded.
        ("503-retryable-consumer-error.http", .resourceExhausted),
    ]

    @Test("OTLP push handling against each recorded collector answer", arguments: pushCases.map(\.0))
    func test_otlpPush_reportsRecordedAnswer(_ file: String) async throws {
        let expected = try #require(Self.pushCases.first { $0.0 == file }).1
        let answer = try Self.recorded(file)
        let health = try Transcript(file: "(v1 ready, contrib handler.go)", text: "HTTP/1.1 200 OK\nContent-Type: application/json\n\n{\"status\":\"Server available\",\"upSince\":\"2020-11-11T04:12:31.6847174Z\",\"uptime\":\"49.0132518s\"}")
        let replay = try ReplayServer.started([
            .init("GET", "/", try health.response()),
            .init("POST", "/v1/traces", answer),
            .init("POST", "/v1/metrics", answer),
        ])
        let outcome = try await ProbeHarness.probe("otel_collector", [
            "health_url: \(replay.url)/", "otlp_url: \(replay.url)", "metrics_url: \(replay.url)/metrics",
            "components: [service_running, otlp_traces_ingest, otlp_metrics_ingest]",
        ])
        await replay.stopOffPool()
        #expect(outcome.up("service_running"), "\(outcome.summary)")
        // The partial-success fixture is a traces answer: it rejects spans, not metric points.
        #expect(outcome.reason("otlp_traces_ingest") == expected, "against \(file): \(outcome.summary)")
        #expect(outcome.reason("otlp_metrics_ingest") == (file.hasPrefix("200-partial") ? nil : expected), "against \(file): \(outcome.summary)")
        if file.hasPrefix("200-partial") {
            #expect(outcome.component("otlp_traces_ingest")?.failure?.message.contains("rejectedSpans=1 nothing") == true, "\(outcome.summary)")
        }
        if let message = answer.json?["message"]?.string, expected != nil {
            #expect(outcome.component("otlp_traces_ingest")?.failure?.message.contains(message) == true, "the Status message is reported")
        }
        #expect(replay.unmatched.isEmpty, "\(replay.unmatched)")
    }

    /// The official e2e test's required self-metric families for a case of metric-stability-expected-families.txt.
    static func families(_ caseName: String) throws -> [String] {
        let text = String(decoding: try Conformance.data("otelcol/self-metrics/metric-stability-expected-families.txt"), as: UTF8.self)
        var families: [String] = []
        var inCase = false
        for line in text.split(separator: "\n").map(String.init) {
            if line.hasPrefix("[case ") { inCase = line.contains("\"\(caseName)\""); continue }
            if inCase, !line.hasPrefix("#"), !line.isEmpty { families.append(line) }
        }
        guard !families.isEmpty else { throw Conformance.MissingMaterial(path: "case \(caseName) in metric-stability-expected-families.txt") }
        return families
    }

    @Test("self_metrics reads every fact and the version from an exposition of the families a real v0.159 collector exposes")
    func test_selfMetrics_readsRealFamilies() async throws {
        // One sample per required family, labelled as v0.159 labels it (service_* only on target_info).
        let text = try Self.families("No metric readers (default)").map { family in
            family == "target_info"
                ? "target_info{service_instance_id=\"a1\",service_name=\"otelcol\",service_version=\"0.159.0\"} 1"
                : "\(family)\(family.hasPrefix("otelcol_receiver") || family.hasPrefix("otelcol_exporter") ? "{transport=\"http\"}" : "") 7"
        }.joined(separator: "\n") + "\n"
        let replay = try ReplayServer.started([.init("GET", "/metrics", try Transcript(file: "(families)", text: "HTTP/1.1 200 OK\nContent-Type: text/plain; version=0.0.4\n\n" + text).response())])
        let outcome = try await ProbeHarness.probe("otel_collector", [
            "health_url: \(replay.url)/", "otlp_url: \(replay.url)", "metrics_url: \(replay.url)/metrics", "components: [self_metrics]",
        ])
        await replay.stopOffPool()
        #expect(outcome.up("self_metrics"), "\(outcome.summary)")
        #expect(outcome.result.version == "0.159.0")
        for fact in ["receiver_accepted_spans", "receiver_refused_spans", "receiver_accepted_metric_points", "receiver_refused_metric_points",
                     "exporter_send_failed_spans", "process_uptime_seconds"] {
            #expect(outcome.fact("infraprobe_otelcol_\(fact)") == 7, "\(fact)")
        }
    }

    // MARK: FakeOTelCollector against the recorded answers

    func fakeAnswer(_ fake: FakeOTelCollector, _ role: String, _ path: String, method: String = "POST",
                    contentType: String? = "application/json", body: String = "{\"resourceSpans\":[]}") async throws -> Fetched {
        let url = fake.url(role) + path
        return try await BlockingExecutor.shared.run {
            Result { () throws -> Fetched in
                var arguments = ["-s", "-S", "-X", method, "--max-time", "10", "-D", "-", "--data-binary", body]
                if let contentType { arguments += ["-H", "Content-Type: \(contentType)"] } else { arguments += ["-H", "Content-Type:"] }
                let (_, out, err) = try Shell.capture("/usr/bin/curl", arguments + [url])
                guard let split = out.range(of: "\r\n\r\n") else { throw TestFailure("curl \(url): \(err)") }
                let head = out[..<split.lowerBound].split(separator: "\r\n")
                let status = Int(head.first?.split(separator: " ")[1] ?? "") ?? 0
                var headers: [String: String] = [:]
                for line in head.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                return Fetched(status: status, headers: headers, body: Data(out[split.upperBound...].utf8))
            }
        }.get()
    }

    @Test("FakeOTelCollector's OTLP answers: status, content type and body as the collector writes them")
    func test_fakeCollector_matchesRecordedOTLPAnswers() async throws {
        let fake = FakeOTelCollector()
        try fake.start()
        let accepted = try await fakeAnswer(fake, "otlp", "/v1/traces")
        let badMethod = try await fakeAnswer(fake, "otlp", "/v1/traces", method: "PATCH")
        let noType = try await fakeAnswer(fake, "otlp", "/v1/traces", contentType: nil)
        let badType = try await fakeAnswer(fake, "otlp", "/v1/traces", contentType: "text/plain")
        // TestHandleInvalidRequests: body `1234` as JSON → 400 Status.
        let badJSON = try await fakeAnswer(fake, "otlp", "/v1/traces", body: "1234")
        fake.breakage.withLock { $0 = .memoryPressure }
        let refused = try await fakeAnswer(fake, "otlp", "/v1/traces")
        await fake.stopOffPool()

        let recordedAccepted = try Self.recorded("200-accepted-json.http")
        #expect(accepted.status == recordedAccepted.status)
        #expect(accepted.headers["content-type"] == recordedAccepted.header("Content-Type"))
        #expect(JSONValue.parse(Array(accepted.body)) == recordedAccepted.json, "accepted body: \(accepted.text)")

        for (answer, file) in [(badMethod, "405-method-not-allowed.http"), (noType, "415-unsupported-media-type.http"),
                               (badType, "415-unsupported-media-type.http")] {
            let recorded = try Self.recorded(file)
            #expect(answer.status == recorded.status, "\(file)")
            #expect(answer.headers["content-type"] == recorded.header("Content-Type"), "\(file)")
            #expect(answer.text == recorded.text, "\(file): exact text, no newline")
        }
        for (answer, file) in [(badJSON, "400-bad-gzip.http"), (refused, "503-retryable-consumer-error.http")] {
            let recorded = try Self.recorded(file)
            #expect(answer.status == recorded.status, "\(file)")
            #expect(answer.headers["content-type"] == recorded.header("Content-Type"), "\(file)")
            let problems = JSONShape.differences(recorded: try #require(recorded.json), fake: try #require(JSONValue.parse(Array(answer.body))))
            #expect(problems.isEmpty, "\(file): \(problems)")
        }
        #expect(JSONValue.parse(Array(refused.body))?["code"] == 14)
    }

    @Test("FakeOTelCollector answers protobuf in protobuf: empty 200 for a valid export, a google.rpc.Status 400 for a broken one")
    func test_fakeCollector_protobufAnswers() async throws {
        let fake = FakeOTelCollector()
        try fake.start()
        // ExportTraceServiceRequest{resource_spans{scope_spans{span{trace_id(16), span_id(8), name "p"}}}}, hand-encoded.
        let span: [UInt8] = [0x0a, 16] + Array(repeating: 0xab, count: 16) + [0x12, 8] + Array(repeating: 0xcd, count: 8) + [0x2a, 1, 0x70]
        let scope: [UInt8] = [0x12, UInt8(span.count)] + span
        let resource: [UInt8] = [0x12, UInt8(scope.count)] + scope
        let valid: [UInt8] = [0x0a, UInt8(resource.count)] + resource
        let truncated: [UInt8] = [0x0a, 0x7f, 0x12]
        var answers: [HTTPClientResponse] = []
        for body in [valid, truncated] {
            let request = HTTPClientRequest(method: "POST", url: fake.url("otlp") + "/v1/traces", headers: [("Content-Type", "application/x-protobuf")],
                                            body: body, deadline: .after(.seconds(5)))
            guard case .response(let response) = await HTTPClient.shared.send(request) else { throw TestFailure("no answer") }
            answers.append(response)
        }
        await fake.stopOffPool()
        #expect(answers[0].status == 200 && answers[0].body.isEmpty && answers[0].contentType == "application/x-protobuf")
        #expect(fake.counters.current.acceptedSpans == 1)
        #expect(answers[1].status == 400 && answers[1].contentType == "application/x-protobuf")
        #expect(answers[1].body.prefix(2) == [0x08, 3], "Status.code = 3 (InvalidArgument)")
    }

    @Test("FakeOTelCollector's health_check follows the official test's table: statuses and bodies per configuration")
    func test_fakeCollector_healthMatchesOfficialTest() async throws {
        let table = String(decoding: try Conformance.data("otelcol/health_check/test-expectations.txt"), as: UTF8.self)
        let notReadyPrefix = "{\"status\":\"Server not available\",\"upSince\":", readyPrefix = "{\"status\":\"Server available\",\"upSince\":"
        #expect(table.contains(notReadyPrefix) && table.contains(readyPrefix), "the prefixes the official test asserts")
        #expect(table.contains("\"ALL OK\"") && table.contains("\"NOT OK\""))
        for (mode, path, ready, notReady) in [(FakeOTelCollector.HealthMode.v1, "/", readyPrefix, notReadyPrefix),
                                              (.v1, "/health", readyPrefix, notReadyPrefix),
                                              (.customBody(healthy: "ALL OK", unhealthy: "NOT OK"), "/", "ALL OK", "NOT OK")] {
            let fake = FakeOTelCollector(healthMode: mode, healthPath: path)
            try fake.start()
            let up = try await HTTPFetch.getOffPool(fake.healthURL)
            fake.breakage.withLock { $0 = .notReady }
            let down = try await HTTPFetch.getOffPool(fake.healthURL)
            await fake.stopOffPool()
            #expect(up.status == 200 && up.text.hasPrefix(ready), "\(mode) \(path): \(up.status) \(up.text)")
            #expect(down.status == 503 && down.text.hasPrefix(notReady), "\(mode) \(path): \(down.status) \(down.text)")
        }
    }

    @Test("FakeOTelCollector's self-metrics use only families a real collector exposes, and include target_info")
    func test_fakeCollector_selfMetricFamiliesAreReal() async throws {
        let real = Set(try Self.families("No metric readers (default)"))
            // Documented in service/documentation.md and receiverhelper/exporterhelper docs but emitted only once data flows / on errors.
            .union(try documentedFamilies())
        let fake = FakeOTelCollector()
        try fake.start()
        let text = try await HTTPFetch.getOffPool(fake.url("metrics") + "/metrics").text
        await fake.stopOffPool()
        let names = Set(PrometheusText.parse(text).map(\.name))
        #expect(names.contains("target_info"))
        #expect(names.subtracting(real).isEmpty, "not exposed by a real collector: \(names.subtracting(real).sorted())")
    }

    /// Metric names listed in the collector's generated documentation files (`### otelcol_…` headings).
    func documentedFamilies() throws -> Set<String> {
        var names: Set<String> = []
        for file in ["documentation-service.md", "documentation-receiver_receiverhelper.md", "documentation-exporter_exporterhelper.md"] {
            let text = String(decoding: try Conformance.data("otelcol/self-metrics/" + file), as: UTF8.self)
            for line in text.split(separator: "\n") where line.hasPrefix("### ") {
                names.insert(String(line.dropFirst(4)).trimmingCharacters(in: .whitespaces))
            }
        }
        return names
    }
}
