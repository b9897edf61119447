import Foundation
import InfraprobeCore

/// Grafana Tempo per `reference/service-apis.md` §4 and `shared/conformance/tempo`: /ready text (503
/// while starting), OTLP/HTTP push on its own port, trace by id v2 (`trace.resourceSpans`, 200 with an
/// empty trace when unknown; ≥ 2.6) and v1 (`batches`; not found = 404 with an empty body ≥ 2.5,
/// `trace not found` ≤ 2.4), base64 ids in query output, search by logfmt tags with hex ids without
/// leading zeros (`traces` omitted when empty).
///
/// Search walks cut blocks only: a trace becomes searchable at the first flush check after it has
/// been idle for `max_trace_idle` (3.x live-store: 5 s idle, checked every 5 s; 2.x ingester
/// `trace_idle_period` 10 s, checked every 10 s), i.e. 5–10 s or 10–20 s after the push.
final class FakeTempo: FakeService, @unchecked Sendable {
    enum Break: Sendable, Equatable {
        case none
        case notReady
        /// Push accepted (200), but the span never becomes queryable or searchable.
        case spanNeverQueryable
        /// Found by id, never by search.
        case searchMissesTrace
        /// Query by id returns another trace.
        case queryReturnsOtherTrace
    }

    /// Whether a span sent now would be stored: the fake is up and answering normally.
    var acceptsForwardedSpans: Bool { !isDown && fault == .none }

    struct StoredSpan: Equatable {
        let traceID: String
        let spanID: String
        let attributes: [String: String]
        let resource: JSONValue
    }

    let breakage = Locked(Break.none)
    let spans = Locked<[StoredSpan]>([])
    /// Spans become visible to queries only this long after the push (ingest lag).
    let visibilityDelay: Duration
    let pushedAt = Locked<[String: ContinuousClock.Instant]>([:])
    /// The Tempo version pretended to be (2.4 … 3.x).
    let version: String
    /// Tempo before 2.6 has no /api/v2.
    var v1Only: Bool { !Self.atLeast(version, 2, 6) }
    /// Multitenancy: requests without this X-Scope-OrgID get 401 `no org id`.
    let tenant: String?
    let searchLag: SearchLag
    /// `http_api_prefix`: every /api route lives under it, /ready and /metrics do not (cmd/tempo/app).
    let httpAPIPrefix: String?
    private let started = ContinuousClock.now

    /// When a pushed trace gets cut into a searchable block.
    struct SearchLag: Sendable, Equatable {
        let idle: Duration
        let checkPeriod: Duration
        /// 3.x live-store defaults (`max_trace_idle` 5 s, `flush_check_period` 5 s).
        static let tempo3 = SearchLag(idle: .seconds(5), checkPeriod: .seconds(5))
        /// 2.x ingester defaults (`trace_idle_period` 10 s, `flush_check_period` 10 s).
        static let tempo2 = SearchLag(idle: .seconds(10), checkPeriod: .seconds(10))
        /// Searchable as soon as queryable (for tests about other things).
        static let none = SearchLag(idle: .zero, checkPeriod: .zero)
        var worstCase: Duration { idle + checkPeriod }
    }

    /// `searchLag` defaults to the version's defaults; `v1Only` pretends to be 2.5.
    init(version: String = "3.0.0", visibilityDelay: Duration = .zero, v1Only: Bool = false, tenant: String? = nil, searchLag: SearchLag? = nil,
         httpAPIPrefix: String? = nil) {
        self.httpAPIPrefix = httpAPIPrefix
        self.version = v1Only ? "2.5.0" : version
        self.visibilityDelay = visibilityDelay
        self.tenant = tenant
        self.searchLag = searchLag ?? (Self.atLeast(version, 3, 0) ? .tempo3 : .tempo2)
        super.init(roles: ["http", "otlp"])
    }

    static func atLeast(_ version: String, _ major: Int, _ minor: Int) -> Bool {
        let parts = version.split(separator: ".").compactMap { Int($0) }
        let (have, want) = ((parts.first ?? 0, parts.dropFirst().first ?? 0), (major, minor))
        return have.0 != want.0 ? have.0 > want.0 : have.1 >= want.1
    }

    override func route(role: String, request: HTTPRequest) -> HTTPResponse {
        if role == "otlp" { return push(request) }
        var path = request.path
        if let prefix = httpAPIPrefix {
            if path.hasPrefix("/api") { return .text(404, "404 page not found") }
            if path.hasPrefix(prefix + "/api") { path = String(path.dropFirst(prefix.count)) }
        }
        switch path {
        case "/ready":
            // Go http.Error: text/plain, nosniff, message + "\n" (the 503 list already ends in one).
            if breakage.current == .notReady { return Self.goError(503, "Some services are not Running:\nStarting: 1\nRunning: 5\n") }
            return Self.goError(200, "ready")
        case "/api/echo": return Self.goError(200, "echo")
        case "/api/status/buildinfo":
            return .json(200, ["version": .string(version), "revision": "1a2b3c4d", "branch": "HEAD", "buildUser": "",
                               "buildDate": "", "goVersion": "go1.22.7"])
        case "/metrics":
            let count = spans.current.count
            return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: """
            # HELP tempo_build_info A metric with a constant '1' value labeled by version.
            # TYPE tempo_build_info gauge
            tempo_build_info{branch="HEAD",goversion="go1.22.7",revision="1a2b3c4d",version="\(version)"} 1
            # TYPE tempo_distributor_spans_received_total counter
            tempo_distributor_spans_received_total{tenant="single-tenant"} \(count)

            """)
        default: break
        }
        if let tenant, request.header("x-scope-orgid") != tenant { return .text(401, "no org id") }
        if path.hasPrefix("/api/v2/traces/") {
            if v1Only { return .text(404, "404 page not found") }
            let id = String(path.dropFirst("/api/v2/traces/".count))
            guard let batches = visibleBatches(id) else { return .json(200, ["trace": [:], "metrics": ["inspectedBytes": "0"]]) }
            return .json(200, ["trace": ["resourceSpans": batches], "metrics": ["inspectedBytes": "12345"]])
        }
        if path.hasPrefix("/api/traces/") {
            let id = String(path.dropFirst("/api/traces/".count))
            guard let batches = visibleBatches(id) else {
                // ≤ 2.4 wrote the status text as the body; 2.5 (475312b319) sends none.
                return Self.atLeast(version, 2, 5) ? .empty(404) : HTTPResponse(status: 404, contentType: "text/plain; charset=utf-8", body: "trace not found")
            }
            return .json(200, ["batches": batches])
        }
        if path == "/api/search" { return search(request) }
        return .text(404, "404 page not found")
    }

    private func visible(_ span: StoredSpan) -> Bool {
        guard breakage.current != .spanNeverQueryable, let at = pushedAt.current[span.traceID] else { return false }
        return ContinuousClock.now - at >= visibilityDelay
    }

    /// Cut into a block: idle for `searchLag.idle` at one of the flush checks since start.
    private func searchable(_ span: StoredSpan) -> Bool {
        guard visible(span), let at = pushedAt.current[span.traceID] else { return false }
        let now = ContinuousClock.now
        guard searchLag.checkPeriod > .zero else { return now - at >= searchLag.idle }
        let idleSince = at + searchLag.idle
        let ticks = ((idleSince - started) / searchLag.checkPeriod).rounded(.up)
        let firstCheck = started + searchLag.checkPeriod * ticks
        return now >= firstCheck
    }

    private func visibleBatches(_ rawID: String) -> JSONValue? {
        guard rawID.allSatisfy(\.isHexDigit) else { return nil }
        let id = String(repeating: "0", count: max(0, 32 - rawID.count)) + rawID.lowercased()
        var matching = spans.current.filter { $0.traceID == id && visible($0) }
        if breakage.current == .queryReturnsOtherTrace, !matching.isEmpty {
            matching = [StoredSpan(traceID: "0102030405060708090a0b0c0d0e0f10", spanID: "0102030405060708", attributes: [:], resource: [:])]
        }
        guard !matching.isEmpty else { return nil }
        return .array(matching.map { span in
            ["resource": span.resource, "scopeSpans": [["scope": ["name": "infraprobe"], "spans": [[
                "traceId": .string(Self.base64(span.traceID)), "spanId": .string(Self.base64(span.spanID)), "name": "infraprobe-probe",
                "kind": "SPAN_KIND_SERVER", "startTimeUnixNano": "1689969302000000000", "endTimeUnixNano": "1689969302100000000",
                "attributes": .array(span.attributes.map { ["key": .string($0.key), "value": ["stringValue": .string($0.value)]] }),
                "status": [:],
            ]]]]]
        })
    }

    private func search(_ request: HTTPRequest) -> HTTPResponse {
        var wanted: [String: String] = [:]
        for pair in (request.query["tags"] ?? "").split(separator: " ") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { wanted[parts[0]] = parts[1] }
        }
        let found = spans.current.filter { span in
            searchable(span) && breakage.current != .searchMissesTrace && wanted.allSatisfy { span.attributes[$0.key] == $0.value }
        }
        var answer: [String: JSONValue] = ["metrics": ["inspectedTraces": 1, "inspectedBytes": "292781", "totalBlocks": 1, "completedJobs": 1, "totalJobs": 1,
                                                       "totalBlockBytes": "292781", "inspectedSpans": "1"]]
        if !found.isEmpty {
            answer["traces"] = .array(found.map { span in
                let hex = span.traceID.drop { $0 == "0" }
                return ["traceID": .string(String(hex)), "rootServiceName": "infraprobe", "rootTraceName": "infraprobe-probe",
                        "startTimeUnixNano": "1694718625557000000", "durationMs": 1,
                        "serviceStats": ["infraprobe": ["spanCount": 1]]]
            })
        }
        return .json(200, .object(answer))
    }

    private func push(_ request: HTTPRequest) -> HTTPResponse {
        guard request.path == "/v1/traces" else { return .text(404, "404 page not found") }
        guard request.method == "POST" else { return .text(405, "405 method not allowed, supported: [POST]") }
        if let tenant, request.header("x-scope-orgid") != tenant { return .text(401, "no org id") }
        let mediaType = (request.header("content-type") ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if mediaType == "application/x-protobuf" {
            // The distributor's receiver is the collector's: protobuf in, protobuf out.
            do {
                var answer = ingest(try OTLPProtobuf.traces(request.body))
                answer.headers = [("Content-Type", "application/x-protobuf")]
                answer.body = answer.status == 200 ? [] : OTLPProtobuf.status(code: 3, message: "invalid length for ID")
                return answer
            } catch {
                var answer = HTTPResponse(status: 400, contentType: "application/x-protobuf", body: "")
                answer.body = OTLPProtobuf.status(code: 3, message: "\(error)")
                return answer
            }
        }
        guard mediaType == "application/json" else {
            return .text(415, "415 unsupported media type, supported: [application/json, application/x-protobuf]")
        }
        guard let body = request.json else { return .json(400, ["code": 3, "message": "ReadObject: expect {"]) }
        return ingest(body)
    }

    /// Stores the spans of an OTLP/JSON traces body (what the distributor does with a push).
    func ingest(_ body: JSONValue) -> HTTPResponse {
        var stored: [StoredSpan] = []
        for resource in body["resourceSpans"]?.array ?? [] {
            var attributes: [String: String] = [:]
            for attribute in resource["resource"]?["attributes"]?.array ?? [] {
                if let key = attribute["key"]?.string, let value = attribute["value"]?["stringValue"]?.string { attributes[key] = value }
            }
            for scope in resource["scopeSpans"]?.array ?? [] {
                for span in scope["spans"]?.array ?? [] {
                    guard let trace = span["traceId"]?.string, trace.count == 32, let spanID = span["spanId"]?.string, spanID.count == 16 else {
                        return .json(400, ["code": 3, "message": "parse trace_id: length mismatch"])
                    }
                    var spanAttributes = attributes
                    for attribute in span["attributes"]?.array ?? [] {
                        if let key = attribute["key"]?.string, let value = attribute["value"]?["stringValue"]?.string { spanAttributes[key] = value }
                    }
                    stored.append(StoredSpan(traceID: trace.lowercased(), spanID: spanID.lowercased(), attributes: spanAttributes,
                                             resource: resource["resource"] ?? [:]))
                }
            }
        }
        spans.withLock { $0 += stored }
        pushedAt.withLock { for span in stored { $0[span.traceID] = .now } }
        return .json(200, ["partialSuccess": [:]])
    }

    static func goError(_ status: Int, _ message: String) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "text/plain; charset=utf-8", body: message + "\n", headers: [("X-Content-Type-Options", "nosniff")])
    }

    static func base64(_ hex: String) -> String {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return Data(bytes).base64EncodedString()
    }
}
