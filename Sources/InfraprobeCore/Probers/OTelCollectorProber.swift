import Foundation

/// Functional test of an OpenTelemetry Collector: the health_check extension, one span and
/// one gauge point through the OTLP/HTTP receiver (accepted without rejections), and the
/// collector's own metrics. Pushed data carries `service.name=infraprobe` and the probe's
/// `infraprobe.instance`/`infraprobe.nonce` so backends can filter it; there is nothing to delete.
public struct OTelCollectorProber: Prober {
    public static let descriptor = ProberDescriptor(
        kind: "otel_collector",
        componentNames: ["service_running", "otlp_traces_ingest", "otlp_metrics_ingest", "self_metrics"],
        addressKey: "health_url",
        make: { section, environment in try OTelCollectorProber(section: section, environment: environment) })

    public let health: HTTPEndpoint
    public let otlp: HTTPEndpoint
    public let metrics: HTTPEndpoint
    /// The health_check extension's `response_body.healthy`, when configured; else its default JSON.
    public let healthyBody: String?

    public init(section: ConfigSection, environment: ProberEnvironment) throws {
        let auth = try HTTPEndpoint.auth(section)
        let tls = try HTTPEndpoint.tls(section)
        health = HTTPEndpoint(client: environment.http, baseURL: try HTTPEndpoint.url(section, "health_url"), auth: auth, tls: tls)
        otlp = HTTPEndpoint(client: environment.http, baseURL: try HTTPEndpoint.url(section, "otlp_url"), auth: auth, tls: tls)
        metrics = HTTPEndpoint(client: environment.http, baseURL: try HTTPEndpoint.url(section, "metrics_url"), auth: auth, tls: tls)
        healthyBody = try section.string("health_response_body")
    }

    public func checks() -> [ComponentCheck] {
        [
            ComponentCheck("service_running") { try await serviceRunning($0) },
            ComponentCheck("otlp_traces_ingest") { try await tracesIngest($0) },
            ComponentCheck("otlp_metrics_ingest") { try await metricsIngest($0) },
            ComponentCheck("self_metrics") { try await selfMetrics($0) },
        ]
    }

    func serviceRunning(_ context: ComponentContext) async throws {
        let response = try await health.call("GET", "", expect: [200, 503], context: context)
        let status = JSONValue.parse(response.body)?["status"]?.string
        guard response.status == 200 else {
            throw ProbeFailure(.notReady, "health_check answered 503" + (status.map { " (\($0))" } ?? ""))
        }
        if let healthyBody {
            guard response.text.trimmingCharacters(in: .whitespacesAndNewlines) == healthyBody else {
                throw ProbeFailure(.unexpectedResponse, "health_check body is not the configured healthy body")
            }
            return
        }
        guard status == "Server available" else {
            throw ProbeFailure(.unexpectedResponse, "health_check status is \(status.map { "\"\($0)\"" } ?? "missing"), expected \"Server available\"")
        }
    }

    func tracesIngest(_ context: ComponentContext) async throws {
        let span = OTLP.span(traceID: randomHex(bytes: 16), spanID: randomHex(bytes: 8), context: context)
        try await OTLP.push(otlp, "/v1/traces", body: OTLP.traces([span], context: context), rejectedField: "rejectedSpans", context: context)
    }

    func metricsIngest(_ context: ComponentContext) async throws {
        try await OTLP.push(otlp, "/v1/metrics", body: OTLP.gauge(context: context), rejectedField: "rejectedDataPoints", context: context)
    }

    func selfMetrics(_ context: ComponentContext) async throws {
        let samples = try await metrics.metrics("", context: context)
        guard samples.contains(where: { $0.name.hasPrefix("otelcol_") }) else {
            throw ProbeFailure(.unexpectedResponse, "no otelcol_* series in the collector's self-metrics")
        }
        let facts: [(String, String, String)] = [
            ("otelcol_receiver_accepted_spans", "infraprobe_otelcol_receiver_accepted_spans", "Spans the collector's receivers accepted (its counter, read on this probe)."),
            ("otelcol_receiver_refused_spans", "infraprobe_otelcol_receiver_refused_spans", "Spans the collector's receivers refused."),
            ("otelcol_receiver_accepted_metric_points", "infraprobe_otelcol_receiver_accepted_metric_points", "Metric points the collector's receivers accepted."),
            ("otelcol_receiver_refused_metric_points", "infraprobe_otelcol_receiver_refused_metric_points", "Metric points the collector's receivers refused."),
            ("otelcol_exporter_send_failed_spans", "infraprobe_otelcol_exporter_send_failed_spans", "Spans the collector's exporters failed to send."),
            ("otelcol_process_uptime", "infraprobe_otelcol_process_uptime_seconds", "Seconds since the collector started."),
        ]
        for (source, name, help) in facts {
            if let value = samples.sum(source) { context.fact(name, help: help, value: value) }
        }
        if let version = samples.first(where: { $0.name.hasPrefix("otelcol_process_uptime") })?.labels["service_version"] {
            context.reportVersion(version)
        }
    }
}

/// OTLP/JSON payloads and the receiver's answer (service-apis.md §6.2, Appendix A).
enum OTLP {
    static func resource(_ context: ComponentContext) -> JSONValue {
        ["attributes": [attribute("service.name", "infraprobe"), attribute("infraprobe.instance", context.instanceID)]]
    }

    static func attribute(_ key: String, _ value: String) -> JSONValue {
        ["key": .string(key), "value": ["stringValue": .string(value)]]
    }

    static func nowNanos() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1_000_000_000) }

    static func span(traceID: String, spanID: String, context: ComponentContext) -> JSONValue {
        let start = nowNanos()
        return ["traceId": .string(traceID), "spanId": .string(spanID), "name": "infraprobe-probe", "kind": 2,
                "startTimeUnixNano": .string(String(start)), "endTimeUnixNano": .string(String(start + 1_000_000)),
                "attributes": [attribute("infraprobe.nonce", context.nonce), attribute("infraprobe.target", context.target)]]
    }

    static func traces(_ spans: [JSONValue], context: ComponentContext) -> JSONValue {
        ["resourceSpans": [["resource": resource(context),
                            "scopeSpans": [["scope": ["name": "infraprobe"], "spans": .array(spans)]]]]]
    }

    static func gauge(context: ComponentContext) -> JSONValue {
        ["resourceMetrics": [["resource": resource(context), "scopeMetrics": [["scope": ["name": "infraprobe"], "metrics": [[
            "name": "infraprobe_heartbeat", "unit": "1",
            "gauge": ["dataPoints": [["asInt": "1", "timeUnixNano": .string(String(nowNanos())),
                                      "attributes": [attribute("infraprobe.nonce", context.nonce)]]]],
        ]]]]]]]
    }

    /// POSTs OTLP/JSON and requires 200 with a `partialSuccess` that rejected nothing.
    static func push(_ endpoint: HTTPEndpoint, _ path: String, body: JSONValue, rejectedField: String,
                     extraHeaders: [(String, String)] = [], deadline: Deadline? = nil, context: ComponentContext) async throws {
        let response = try await endpoint.call("POST", path, body: body.serialized, contentType: "application/json",
                                               headers: extraHeaders, expect: [200, 400, 404, 415], deadline: deadline, context: context)
        switch response.status {
        case 404: throw ProbeFailure(.httpStatus, "POST \(path) answered 404: no pipeline for this signal uses the OTLP receiver")
        case 400, 415:
            let message = JSONValue.parse(response.body)?["message"]?.string ?? HTTPEndpoint.snippet(response.body, limit: 120)
            throw ProbeFailure(.protocol, "POST \(path) rejected the payload (\(response.status)): \(message)")
        default: break
        }
        guard let answer = JSONValue.parse(response.body), answer.object != nil else {
            throw ProbeFailure(.unexpectedResponse, "POST \(path) answered 200 with a body that is not an OTLP JSON response")
        }
        let partial = answer["partialSuccess"]
        guard let field = partial?[rejectedField] else { return }
        // int64 in jsonpb: a number or a decimal string; anything else (1e300, -1, "NaN") is no count.
        guard let rejected = field.int, rejected >= 0 else {
            throw ProbeFailure(.unexpectedResponse, "POST \(path): \(rejectedField) is not a count: "
                               + HTTPEndpoint.snippet(field.serialized, limit: 40))
        }
        guard rejected == 0 else {
            let message = partial?["errorMessage"]?.string ?? ""
            throw ProbeFailure(.unexpectedResponse, "POST \(path): \(rejectedField)=\(rejected) \(HTTPEndpoint.snippet(Array(message.utf8), limit: 200))")
        }
    }
}
