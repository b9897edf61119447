import Foundation

/// Functional test of Grafana Tempo: readiness, one span pushed over OTLP/HTTP with a fresh
/// trace id, that trace fetched by id (API v2, falling back to v1) and found by a tag search,
/// and Tempo's own metrics. Tempo has no delete API: the single span is tagged
/// `service.name=infraprobe` + `infraprobe.nonce` and ages out with block retention.
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

    public init(section: ConfigSection, environment: ProberEnvironment) throws {
        let url = try HTTPEndpoint.url(section, "url")
        let auth = try HTTPEndpoint.auth(section)
        let tls = try HTTPEndpoint.tls(section)
        // Multi-tenant Tempo needs X-Scope-OrgID on queries and pushes alike.
        let headers = try section.string("tenant").map { [("X-Scope-OrgID", $0)] } ?? []
        api = HTTPEndpoint(client: environment.http, baseURL: url, auth: auth, tls: tls, headers: headers)
        otlp = HTTPEndpoint(client: environment.http, baseURL: try HTTPEndpoint.url(section, "otlp_url", default: Self.otlpDefault(url)),
                            auth: auth, tls: tls, headers: headers)
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
        guard ready.text.trimmingCharacters(in: .whitespacesAndNewlines) == "ready" else {
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
    }

    func pushedTrace(_ context: ComponentContext) throws -> (id: String, start: Int) {
        guard let id = context.shared[Self.traceKey, as: String.self], let start = context.shared[Self.startKey, as: Int.self] else {
            throw ProbeFailure(.dependencyFailed, "no trace was pushed")
        }
        return (id, start)
    }

    /// Polls trace-by-id until the pushed span is there: v2 first, v1 when v2 does not exist.
    func traceQuery(_ context: ComponentContext) async throws {
        let (traceID, _) = try pushedTrace(context)
        var useV1 = false
        try await poll(context, what: "trace \(traceID) by id") {
            if !useV1 {
                let response = try await api.call("GET", "/api/v2/traces/\(traceID)", expect: [200, 404], context: context)
                if response.status == 404 {
                    useV1 = true
                } else {
                    guard let answer = JSONValue.parse(response.body), answer.object != nil else {
                        throw ProbeFailure(.unexpectedResponse, "trace-by-id v2 is not a JSON object")
                    }
                    return try Self.containsTrace(answer["trace"]?["resourceSpans"], traceID)
                }
            }
            let response = try await api.call("GET", "/api/traces/\(traceID)", expect: [200, 404], context: context)
            guard response.status == 200 else { return false }
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
                    if let bytes = Data(base64Encoded: id), bytes.map({ String(format: "%02x", $0) }).joined() == traceID { return true }
                    throw ProbeFailure(.unexpectedResponse, "trace-by-id returned a span of another trace (\(id))")
                }
            }
        }
        return false
    }

    func traceSearch(_ context: ComponentContext) async throws {
        let (traceID, start) = try pushedTrace(context)
        let wanted = Self.stripLeadingZeros(traceID)
        let tags = urlEncode("infraprobe.nonce=\(context.nonce)")
        try await poll(context, what: "trace \(traceID) in search results") {
            let end = Int(Date().timeIntervalSince1970) + 60
            let (_, answer) = try await api.json("GET", "/api/search?tags=\(tags)&limit=20&start=\(start - 60)&end=\(end)", context: context)
            guard answer.object != nil else { throw ProbeFailure(.unexpectedResponse, "search answer is not a JSON object") }
            // An empty result omits `traces` altogether.
            let traces = answer["traces"]?.array ?? []
            return traces.contains { Self.stripLeadingZeros($0["traceID"]?.string?.lowercased() ?? "") == wanted }
        }
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
