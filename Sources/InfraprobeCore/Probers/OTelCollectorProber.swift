import FoundationEssentials
import Glibc

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

    /// Up on 200 with the v1 JSON (`status: "Server available"`), the v2 JSON (`healthy: true`,
    /// healthcheckv2 or the useComponentStatus gate), an empty body (`check_collector_pipeline`),
    /// or exactly the configured `health_response_body`. 503, and a 500 that is empty
    /// (`check_collector_pipeline`) or v2 JSON (a fatal component), are `not_ready`.
    func serviceRunning(_ context: ComponentContext) async throws {
        let response = try await health.call("GET", "", expect: [200, 301, 308, 500, 503], responseHeaders: ["Location"], context: context)
        let json = JSONValue.parse(response.body)
        let status = json?["status"]?.string
        let detail = [status, json?["error"]?.string].compactMap { $0 }.joined(separator: ": ")
        switch response.status {
        case 301, 308:
            // Go's mux redirects `/health` to a subtree path `/health/`; redirects are not followed.
            throw ProbeFailure(.httpStatus, "health_check answered \(response.status) to \(response.headers["Location"] ?? "another path"): set health_url to the extension's path exactly, trailing slash included")
        case 503:
            throw ProbeFailure(.notReady, "health_check answered 503" + (detail.isEmpty ? "" : " (\(detail))"))
        case 500:
            guard response.body.isEmpty || json?["healthy"]?.bool != nil else {
                throw ProbeFailure(.httpStatus, "health_check answered 500: \(HTTPEndpoint.snippet(response.body, limit: 120))")
            }
            throw ProbeFailure(.notReady, "health_check answered 500" + (detail.isEmpty ? " (collector pipeline unhealthy)" : " (\(detail))"))
        default: break
        }
        if let healthyBody {
            guard response.text.trimmingWhitespaceAndNewlines() == healthyBody else {
                throw ProbeFailure(.unexpectedResponse, "health_check body is not the configured healthy body")
            }
            return
        }
        if response.body.isEmpty || status == "Server available" { return }
        if let healthy = json?["healthy"]?.bool {
            guard healthy else { throw ProbeFailure(.notReady, "health_check reports healthy=false" + (detail.isEmpty ? "" : " (\(detail))")) }
            return
        }
        guard json != nil else {
            throw ProbeFailure(.unexpectedResponse, "health_check answered 200 with a body that is neither its JSON nor empty (set health_response_body for a custom body): \(HTTPEndpoint.snippet(response.body, limit: 80))")
        }
        throw ProbeFailure(.unexpectedResponse, "health_check status is \(status.map { "\"\($0)\"" } ?? "missing"), expected \"Server available\"")
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
            if let value = Self.sum(samples, source) { context.fact(name, help: help, value: value) }
        }
        // ≥ v0.149 puts service_version only on target_info; older collectors on every series.
        let versioned = samples.first { $0.name == "target_info" && $0.labels["service_version"] != nil }
            ?? samples.first { $0.name.hasPrefix("otelcol_process_uptime") && $0.labels["service_version"] != nil }
            ?? samples.first { $0.name.hasPrefix("otelcol_") && $0.labels["service_version"] != nil }
        if let version = versioned?.labels["service_version"] { context.reportVersion(version) }
    }

    /// Sums the series of an OTel metric under any of the names the collector's Prometheus
    /// readers give it: bare (default readers), with a unit and/or `_total` (explicit readers
    /// v0.119–v0.151), or with v0.130's `__<unit>__` annotation.
    static func sum(_ samples: [PrometheusSample], _ name: String) -> Double? {
        let matching = samples.filter { matches($0.name, name) }
        return matching.isEmpty ? nil : matching.reduce(0) { $0 + $1.value }
    }

    static let unitSuffixes = ["", "_seconds", "_bytes", "_milliseconds", "_ratio"]

    static func matches(_ exposed: String, _ name: String) -> Bool {
        guard exposed.hasPrefix(name) else { return false }
        var rest = Substring(exposed.dropFirst(name.count))
        // v0.130 wrote `…__spans__total`: the annotation's closing `__` doubles as the separator.
        if rest.hasSuffix("__total") { rest = rest.dropLast("total".count) } else if rest.hasSuffix("_total") { rest = rest.dropLast("_total".count) }
        if rest.hasSuffix("__"), let open = rest.dropLast(2).lastRange(of: "__") {
            let annotation = rest[open.upperBound..<rest.index(rest.endIndex, offsetBy: -2)]
            if !annotation.isEmpty, annotation.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                rest = rest[..<open.lowerBound]
            }
        }
        return unitSuffixes.contains(String(rest))
    }
}
