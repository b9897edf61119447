import FoundationEssentials
import Glibc

/// Functional test of Grafana Tempo: readiness, one span pushed over OTLP/HTTP with a fresh
/// trace id, that trace fetched by id (API v2, falling back to v1) and found by a tag search,
/// and Tempo's own metrics. Tempo has no delete API: the single span is tagged
/// `service.name=infraprobe` + `infraprobe.nonce` and ages out with block retention.
///
/// Search only sees traces that have been cut into a block (5–20 s after the push), so
/// `trace_search` looks for the newest trace an *earlier* probe pushed at least `search_lag`
/// ago. Until one exists (the first `search_lag` after the exporter starts) it searches for the
/// trace just pushed once and passes as pending if Tempo cannot show it yet (docs/probers.md).
public struct TempoProber: Prober {
    public static let descriptor = ProberDescriptor(
        kind: "tempo",
        componentNames: ["service_running", "trace_ingest", "trace_query", "trace_search", "metrics_endpoint"],
        addressKey: "url",
        make: { section, environment in try TempoProber(section: section, environment: environment) })

    static let traceKey = "tempo.trace_id"
    static let startKey = "tempo.start"

    public let api: HTTPEndpoint
    public let otlp: HTTPEndpoint
    /// How long after its push a trace is surely searchable (2.x worst case: 10 s idle + 10 s flush check).
    public let searchLag: Duration
    public let memory = TempoSearchMemory()
    static let defaultSearchLag: Duration = .seconds(20)

    public init(section: ConfigSection, environment: ProberEnvironment) throws {
        let url = try HTTPEndpoint.url(section, "url")
        let auth = try HTTPEndpoint.auth(section)
        let tls = try HTTPEndpoint.tls(section)
        // Multi-tenant Tempo needs X-Scope-OrgID on queries and pushes alike.
        let headers = try section.string("tenant").map { [("X-Scope-OrgID", $0)] } ?? []
        api = HTTPEndpoint(client: environment.http, baseURL: url, auth: auth, tls: tls, headers: headers)
        otlp = HTTPEndpoint(client: environment.http, baseURL: try HTTPEndpoint.url(section, "otlp_url", default: Self.otlpDefault(url)),
                            auth: auth, tls: tls, headers: headers)
        searchLag = try section.duration("search_lag") ?? Self.defaultSearchLag
    }

    /// Same host as the API, port 4318.
    static func otlpDefault(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return url }
        components.port = 4318
        components.path = ""
        return components.string ?? url
    }

    public func checks() -> [ComponentCheck] {
        [
            ComponentCheck("service_running") { try await serviceRunning($0) },
            ComponentCheck("trace_ingest") { try await traceIngest($0) },
            ComponentCheck("trace_query", dependsOn: ["trace_ingest"]) { try await traceQuery($0) },
            ComponentCheck("trace_search", dependsOn: ["trace_ingest"]) { try await traceSearch($0) },
            ComponentCheck("metrics_endpoint") { try await metricsEndpoint($0) },
        ]
    }

    func serviceRunning(_ context: ComponentContext) async throws {
        let ready = try await api.call("GET", "/ready", expect: [200, 503], context: context)
        guard ready.status == 200 else {
            throw ProbeFailure(.notReady, "/ready: " + HTTPEndpoint.snippet(ready.body, limit: 120))
        }
        guard ready.text.trimmingWhitespaceAndNewlines() == "ready" else {
            throw ProbeFailure(.unexpectedResponse, "/ready answered 200 without \"ready\"")
        }
        if let (_, build) = try? await api.json("GET", "/api/status/buildinfo", context: context), let version = build["version"]?.string {
            context.reportVersion(version)
        }
    }

    func traceIngest(_ context: ComponentContext) async throws {
        let traceID = randomHex(bytes: 16)
        let span = OTLP.span(traceID: traceID, spanID: randomHex(bytes: 8), context: context)
        let start = Int(Date().timeIntervalSince1970)
        try await OTLP.push(otlp, "/v1/traces", body: OTLP.traces([span], context: context), rejectedField: "rejectedSpans", context: context)
        context.shared.set(Self.traceKey, traceID)
        context.shared.set(Self.startKey, start)
        memory.remember(.init(id: traceID, nonce: context.nonce, pushedUnix: start, pushed: .now))
    }

    func pushedTrace(_ context: ComponentContext) throws -> (id: String, start: Int) {
        guard let id = context.shared[Self.traceKey, as: String.self], let start = context.shared[Self.startKey, as: Int.self] else {
            throw ProbeFailure(.dependencyFailed, "no trace was pushed")
        }
        return (id, start)
    }

    /// Polls trace-by-id until the pushed span is there: v2 first, v1 when v2 does not exist.
    func traceQuery(_ context: ComponentContext) async throws {
        let (traceID, start) = try pushedTrace(context)
        // A time range keeps the query-frontend from fanning each poll out over every block.
        let range = "?start=\(start - 60)&end=\(start + 3600)"
        var useV1 = false
        try await Poll.standard.until(context, what: "trace \(traceID) by id") {
            if !useV1 {
                let response = try await api.call("GET", "/api/v2/traces/\(traceID)" + range, expect: [200, 404], context: context)
                if response.status == 404 {
                    useV1 = true
                } else {
                    guard let answer = JSONValue.parse(response.body), answer.object != nil else {
                        throw ProbeFailure(.unexpectedResponse, "trace-by-id v2 is not a JSON object")
                    }
                    return try Self.containsTrace(answer["trace"]?["resourceSpans"], traceID)
                }
            }
            let response = try await api.call("GET", "/api/traces/\(traceID)" + range, expect: [200, 404], context: context)
            guard response.status == 200 else {
                try Self.checkTraceNotFound(response)
                return false
            }
            guard let answer = JSONValue.parse(response.body) else {
                throw ProbeFailure(.unexpectedResponse, "trace-by-id v1 is not JSON")
            }
            return try Self.containsTrace(answer["batches"] ?? answer["resourceSpans"], traceID)
        }
    }

    /// True when some span carries `traceID` (query output encodes ids as base64; hex accepted too).
    static func containsTrace(_ resourceSpans: JSONValue?, _ traceID: String) throws -> Bool {
        guard let resourceSpans else { return false }
        guard let batches = resourceSpans.array else { throw ProbeFailure(.unexpectedResponse, "trace resourceSpans is not an array") }
        for batch in batches {
            for scope in batch["scopeSpans"]?.array ?? batch["instrumentationLibrarySpans"]?.array ?? [] {
                for span in scope["spans"]?.array ?? [] {
                    guard let id = span["traceId"]?.string else { continue }
                    if id.lowercased() == traceID { return true }
                    if let bytes = Data(base64Encoded: id), HexString.lowercase(bytes) == traceID { return true }
                    throw ProbeFailure(.unexpectedResponse, "trace-by-id returned a span of another trace (\(id))")
                }
            }
        }
        return false
    }

    /// v1 "not found" is 404 with an empty body (≥ 2.5) or `trace not found` (≤ 2.4); Go's
    /// `404 page not found` means there is no query API at this URL (wrong port, path or
    /// `http_api_prefix`), which polling would only turn into a misleading timeout.
    static func checkTraceNotFound(_ response: HTTPClientResponse) throws {
        let body = response.text.trimmingWhitespaceAndNewlines()
        if body == "404 page not found" {
            throw ProbeFailure(.httpStatus, "GET /api/traces answered 404 page not found: no Tempo query API at this url (check the port and http_api_prefix)")
        }
    }

    func traceSearch(_ context: ComponentContext) async throws {
        let (currentID, currentStart) = try pushedTrace(context)
        guard let old = memory.newest(olderThan: searchLag) else {
            // Warm-up: nothing pushed long enough ago. One look for the trace just pushed.
            if try await search(currentID, nonce: context.nonce, pushedUnix: currentStart, context: context) {
                context.fact("infraprobe_tempo_search_verified", help: "1 when trace_search found a probe trace this probe, 0 while it waits for one old enough (warm-up).", value: 1)
                return
            }
            let since = memory.oldest.map { ContinuousClock.now - $0.pushed } ?? .zero
            context.step("search pending: the first probe trace was pushed \(since.components.seconds) s ago; Tempo makes traces searchable "
                         + "5-20 s after the push, so the check starts once one is \(searchLag.components.seconds) s old (search_lag)")
            context.fact("infraprobe_tempo_search_verified", help: "1 when trace_search found a probe trace this probe, 0 while it waits for one old enough (warm-up).", value: 0)
            return
        }
        let age = (ContinuousClock.now - old.pushed).components.seconds
        try await Poll.standard.until(context, what: "trace \(old.id) (pushed \(age) s ago by an earlier probe) in search results") {
            try await search(old.id, nonce: old.nonce, pushedUnix: old.pushedUnix, context: context)
        }
        context.fact("infraprobe_tempo_search_verified", help: "1 when trace_search found a probe trace this probe, 0 while it waits for one old enough (warm-up).", value: 1)
    }

    /// One tag search for a probe trace; true when it is among the hits.
    func search(_ traceID: String, nonce: String, pushedUnix: Int, context: ComponentContext) async throws -> Bool {
        let wanted = Self.stripLeadingZeros(traceID)
        let tags = urlEncode("infraprobe.nonce=\(nonce)")
        let end = Int(Date().timeIntervalSince1970) + 60
        let (_, answer) = try await api.json("GET", "/api/search?tags=\(tags)&limit=20&start=\(pushedUnix - 60)&end=\(end)", context: context)
        return try Self.searchTraceIDs(answer).contains(wanted)
    }

    /// The hex trace ids of a search answer, leading zeros stripped (Tempo trims them too).
    static func searchTraceIDs(_ answer: JSONValue) throws -> [String] {
        guard answer.object != nil else { throw ProbeFailure(.unexpectedResponse, "search answer is not a JSON object") }
        // An empty result omits `traces` altogether.
        guard let traces = answer["traces"]?.array ?? (answer["traces"] == nil ? [] : nil) else {
            throw ProbeFailure(.unexpectedResponse, "search answer's traces is not an array")
        }
        return traces.compactMap { $0["traceID"]?.string.map { stripLeadingZeros($0.lowercased()) } }
    }

    static func stripLeadingZeros(_ hex: String) -> String {
        let stripped = hex.drop { $0 == "0" }
        return stripped.isEmpty ? "0" : String(stripped)
    }

    func metricsEndpoint(_ context: ComponentContext) async throws {
        let samples = try await api.metrics("/metrics", context: context)
        guard samples.contains(where: { $0.name.hasPrefix("tempo_") }) else {
            throw ProbeFailure(.unexpectedResponse, "no tempo_* series on /metrics")
        }
        if let received = samples.sum("tempo_distributor_spans_received_total") {
            context.fact("infraprobe_tempo_distributor_spans_received", help: "Spans Tempo's distributor received (its counter, read on this probe).", value: received)
        }
    }
}
