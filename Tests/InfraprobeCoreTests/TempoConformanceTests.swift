import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// Tempo against its official material (shared/conformance/tempo): the jsonpb trace fixture of
/// tempo-vulture's tests, source-derived /ready, /api/echo and not-found answers, the tags-search
/// doc example, and the OTLP/HTTP receiver's accepted answer (Tempo's distributor embeds it).
@Suite("Tempo prober and fake against Tempo's official fixture and recorded answers")
struct TempoConformanceTests {
    typealias Route = ReplayServer.Route

    static func fixture() throws -> JSONValue { try Conformance.json("tempo/traces-v2/trace-object-jsonpb-fixture.json.txt") }

    static func hex(base64: String) -> String {
        (Data(base64Encoded: base64) ?? Data()).map { String(format: "%02x", $0) }.joined()
    }

    static func fixtureTraceID() throws -> String {
        hex(base64: try #require(try fixture()["resourceSpans"]?[0]?["scopeSpans"]?[0]?["spans"]?[0]?["traceId"]?.string))
    }

    static func searchExample() throws -> JSONValue {
        let text = try Conformance.textWithoutHeader("tempo/search/doc-example-tags-search.txt")
        let start = try #require(text.firstIndex(of: "{")), end = try #require(text.lastIndex(of: "}"))
        return try #require(JSONValue.parse(Array(text[start...end].utf8)))
    }

    @Test("trace-by-id parsing: the official jsonpb fixture (base64 ids) contains its own trace, v2 and v1 (batches) forms")
    func test_tempoFixture_containsTrace() throws {
        let fixture = try Self.fixture()
        let id = try Self.fixtureTraceID()
        #expect(try TempoProber.containsTrace(fixture["resourceSpans"], id))
        let v1Text = String(decoding: fixture.serialized, as: UTF8.self).replacingOccurrences(of: "\"resourceSpans\":", with: "\"batches\":")
        #expect(try TempoProber.containsTrace(JSONValue.parse(Array(v1Text.utf8))?["batches"], id))
        #expect(throws: ProbeFailure.self) { try TempoProber.containsTrace(fixture["resourceSpans"], String(repeating: "ab", count: 16)) }
    }

    @Test("search parsing: the tags-search doc example's short hex ids are read")
    func test_tempoSearchExample_parses() throws {
        #expect(try TempoProber.searchTraceIDs(Self.searchExample()) == ["d6e9329d67b6146a", "1b1ba462b409200d"])
        #expect(try TempoProber.searchTraceIDs(["metrics": ["inspectedBytes": "0"]]).isEmpty, "no traces field = no hits")
    }

    /// /ready, OTLP push and trace by id, all from recorded or source-derived answers; the fixture
    /// answers for whatever id is asked (its base64 trace ids replaced by the asked one).
    static func routes(notFound: String?, v2: Bool) throws -> [Route] {
        let fixture = try Self.fixture()
        let fixtureID = try #require(fixture["resourceSpans"]?[0]?["scopeSpans"]?[0]?["spans"]?[0]?["traceId"]?.string)
        let trace = RecordedResponse(status: 200, headers: [("Content-Type", "application/json")], body: fixture.serialized)
        @Sendable func forID(_ request: HTTPRequest, _ recorded: RecordedResponse) -> RecordedResponse {
            let hex = String(request.path.split(separator: "/").last ?? "")
            var bytes: [UInt8] = []
            var index = hex.startIndex
            while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) {
                bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
                index = next
            }
            return recorded.replacing(fixtureID, with: Data(bytes).base64EncodedString())
        }
        var routes = [
            Route("GET", "/ready", try Transcript.load("tempo/ready/200.http").response()),
            Route("POST", "/v1/traces", try Transcript.load("otelcol/otlp-http/200-accepted-json.http").response()),
        ]
        let missingRoute = RecordedResponse(status: 404, headers: [("Content-Type", "text/plain; charset=utf-8")], body: Array("404 page not found\n".utf8))
        if v2 {
            let wrapped = RecordedResponse(status: 200, headers: trace.headers, body: Array("{\"trace\":\(trace.text)}".utf8))
            routes.append(Route("GET", "/api/v2/traces/*", wrapped, adapt: forID))
        } else {
            routes.append(Route("GET", "/api/v2/traces/*", missingRoute))
            let v1 = trace.replacing("\"resourceSpans\":", with: "\"batches\":")
            var answers = [v1]
            if let notFound { answers.insert(try Transcript.load(notFound).response(), at: 0) }
            routes.append(Route("GET", "/api/traces/*", responses: answers, adapt: forID))
        }
        return routes
    }

    @Test("trace_query against the fixture: v2 directly, and v1 after the recorded not-found of Tempo <= 2.4 and >= 2.5",
          arguments: [(nil as String?, true), ("tempo/traces-v1/404-not-found-le-2.4.http", false), ("tempo/traces-v1/404-not-found-ge-2.5.http", false)])
    func test_tempoReplay_traceQuery(notFound: String?, v2: Bool) async throws {
        let replay = try ReplayServer.started(try Self.routes(notFound: notFound, v2: v2))
        let outcome = try await ProbeHarness.probe("tempo", ["url: \(replay.url)", "otlp_url: \(replay.url)", "components: [trace_ingest, trace_query]"])
        await replay.stopOffPool()
        #expect(outcome.up("trace_ingest"), "\(outcome.summary)")
        #expect(outcome.up("trace_query"), "\(outcome.summary)")
        #expect(replay.requests.filter { $0.hasPrefix("GET /api/traces/") }.count == (v2 ? 0 : 2), "\(replay.requests)")
    }

    @Test("service_running against the source-derived /ready answers: 200 ready passes, both 503 texts are not_ready",
          arguments: [("tempo/ready/200.http", true), ("tempo/ready/503-services-not-running.http", false), ("tempo/ready/503-stopping.http", false)])
    func test_tempoReplay_ready(file: String, passes: Bool) async throws {
        let replay = try ReplayServer.started([Route("GET", "/ready", try Transcript.load(file).response())])
        let outcome = try await ProbeHarness.probe("tempo", ["url: \(replay.url)", "components: [service_running]"])
        await replay.stopOffPool()
        #expect(outcome.up("service_running") == passes, "\(outcome.summary)")
        if !passes { #expect(outcome.reason("service_running") == .notReady) }
    }

    @Test("FakeTempo answers like the recorded material: /ready and /api/echo bytes, not-found bodies per version, trace and search shapes",
          arguments: ["2.4.2", "2.5.0", "2.8.2", "3.0.0"])
    func test_fakeTempo_matchesRecordedAnswers(version: String) async throws {
        let fake = FakeTempo(version: version, searchLag: FakeTempo.SearchLag.none)
        try fake.start()
        defer { fake.stop() }
        let http = fake.url("http")
        for (path, file) in [("/ready", "tempo/ready/200.http"), ("/api/echo", "tempo/echo/200.http")] {
            let fetched = try await HTTPFetch.getOffPool(http + path)
            let recorded = try Transcript.load(file).response()
            #expect(fetched.status == recorded.status && fetched.text == recorded.text, "\(path): \(fetched.text)")
            #expect(fetched.headers["content-type"] == recorded.header("Content-Type"))
            #expect(fetched.headers["x-content-type-options"] == "nosniff")
        }
        fake.breakage.withLock { $0 = .notReady }
        let notReady = try await HTTPFetch.getOffPool(http + "/ready")
        let recorded503 = try Transcript.load("tempo/ready/503-services-not-running.http").response()
        #expect(notReady.status == 503 && notReady.text.hasPrefix("Some services are not Running:\n") && notReady.text.hasSuffix("\n\n"))
        #expect(notReady.text.split(separator: "\n").count == recorded503.text.split(separator: "\n").count)
        fake.breakage.withLock { $0 = .none }

        let missing = try await HTTPFetch.getOffPool(http + "/api/traces/0123456789abcdef0123456789abcdef")
        let expected = try Transcript.load(FakeTempo.atLeast(version, 2, 5) ? "tempo/traces-v1/404-not-found-ge-2.5.http" : "tempo/traces-v1/404-not-found-le-2.4.http").response()
        #expect(missing.status == 404 && missing.text == expected.text, "\(version): \(missing.text)")

        // Push one span, then compare the trace-by-id and search answers with the fixture / proto shapes.
        let traceID = "5b8efff798038103d269b633813fc700"
        let push: JSONValue = ["resourceSpans": [["resource": ["attributes": [["key": "service.name", "value": ["stringValue": "infraprobe"]]]],
                                                  "scopeSpans": [["spans": [["traceId": .string(traceID), "spanId": "eee19b7ec3c1b100", "name": "p", "kind": 2,
                                                                             "startTimeUnixNano": "1", "endTimeUnixNano": "2",
                                                                             "attributes": [["key": "infraprobe.nonce", "value": ["stringValue": "n1"]]]]]]]]]]
        _ = fake.ingest(push)
        let fixture = try Self.fixture()
        let path = FakeTempo.atLeast(version, 2, 6) ? "/api/v2/traces/\(traceID)" : "/api/traces/\(traceID)"
        let byID = try #require(JSONValue.parse(Array(try await HTTPFetch.getOffPool(http + path).body)))
        let batches = try #require(byID["trace"]?["resourceSpans"] ?? byID["batches"])
        // The fixture's span has kind 0 and an empty scope, which jsonpb omits; ours are SERVER and named.
        let extra = JSONShape.notInSpec(batches, try #require(fixture["resourceSpans"])).filter { !$0.hasSuffix(".kind: not in the recording") && !$0.hasSuffix(".scope.name: not in the recording") }
        #expect(extra.isEmpty, "\(extra)")
        let search = try #require(JSONValue.parse(Array(try await HTTPFetch.getOffPool(http + "/api/search?tags=infraprobe.nonce%3Dn1&limit=20&start=0&end=9999999999").body)))
        let example = try Self.searchExample()
        // serviceStats is in the current proto (README disagreement 4), not in the older doc example.
        let traceShape = JSONShape.differences(search["traces"]?[0] ?? [:], example["traces"]?[0] ?? [:]).filter { !$0.contains("serviceStats") }
        #expect(traceShape.isEmpty, "\(traceShape)")
        // Proto SearchMetrics: u64 as strings, u32 as numbers (FACTS); the example has a subset.
        for (key, kind) in [("inspectedBytes", "string"), ("totalBlockBytes", "string"), ("inspectedSpans", "string"), ("inspectedTraces", "number"),
                            ("totalBlocks", "number"), ("completedJobs", "number"), ("totalJobs", "number")] {
            #expect(search["metrics"]?[key].map(JSONShape.kind) == kind, "metrics.\(key)")
        }
        #expect(try TempoProber.searchTraceIDs(search) == [TempoProber.stripLeadingZeros(traceID)])
        let build = try #require(JSONValue.parse(Array(try await HTTPFetch.getOffPool(http + "/api/status/buildinfo").body)))
        let buildKeys = Set((build.object ?? [:]).keys)
        #expect(buildKeys == ["version", "revision", "branch", "buildUser", "buildDate", "goVersion"])
        #expect(build["version"]?.string == version)
    }
}
