import Foundation
import InfraprobeCore

/// An OpenTelemetry Collector per `reference/service-apis.md` §6: health_check extension
/// (200/503 JSON), OTLP/HTTP receiver (405/415/400 errors, `{"partialSuccess":{}}`, rejected
/// counts as strings), and :8888 self-metrics without (or with) `_total` suffixes.
final class FakeOTelCollector: FakeService, @unchecked Sendable {
    enum Break: Sendable, Equatable {
        case none
        case notReady
        case rejectsSpans
        case noMetricsPipeline
        case selfMetricsWithoutCollectorSeries
        /// Spans are accepted (200, nothing rejected) but the exporter never delivers them.
        case dropsSpans
    }

    struct Counters: Equatable {
        var acceptedSpans = 0
        var refusedSpans = 0
        var acceptedPoints = 0
        var sentSpans = 0
        var sendFailedSpans = 0
    }

    let breakage = Locked(Break.none)
    let counters = Locked(Counters())
    let totalSuffix: Bool
    /// With an authenticator extension configured the receiver wants this bearer token.
    let bearer: String?

    /// The otlp exporter: accepted spans reach this Tempo after `delay` (the batch processor's timeout).
    let exporter = Locked<(tempo: FakeTempo, delay: Duration)?>(nil)

    func forward(to tempo: FakeTempo, delay: Duration = .milliseconds(200)) {
        exporter.withLock { $0 = (tempo, delay) }
    }

    init(totalSuffix: Bool = false, bearer: String? = nil) {
        self.totalSuffix = totalSuffix
        self.bearer = bearer
        super.init(roles: ["health", "otlp", "metrics"])
    }

    override func route(role: String, request: HTTPRequest) -> HTTPResponse {
        switch role {
        case "health": return health()
        case "otlp": return otlp(request)
        default: return metrics(request)
        }
    }

    private func health() -> HTTPResponse {
        if breakage.current == .notReady {
            return .json(503, ["status": "Server not available", "upSince": "0001-01-01T00:00:00Z", "uptime": ""])
        }
        return .json(200, ["status": "Server available", "upSince": "2026-11-26T04:12:31.6847174Z", "uptime": "49.0132518s"])
    }

    private func otlp(_ request: HTTPRequest) -> HTTPResponse {
        let signal: String
        switch request.path {
        case "/v1/traces": signal = "traces"
        case "/v1/metrics":
            if breakage.current == .noMetricsPipeline { return .text(404, "404 page not found") }
            signal = "metrics"
        default: return .text(404, "404 page not found")
        }
        guard request.method == "POST" else { return .text(405, "405 method not allowed, supported: [POST]") }
        if let bearer, request.header("authorization") != "Bearer \(bearer)" {
            return .text(401, "Unauthorized")
        }
        guard let type = request.header("content-type"), type.hasPrefix("application/json") || type.hasPrefix("application/x-protobuf") else {
            return .text(415, "415 unsupported media type, supported: [application/json, application/x-protobuf]")
        }
        guard let body = request.json else { return .json(400, ["code": 3, "message": "ReadObject: expect { or n, but found \\u0001"]) }
        if signal == "traces" {
            var spans = 0
            for resource in body["resourceSpans"]?.array ?? [] {
                for scope in resource["scopeSpans"]?.array ?? [] {
                    for span in scope["spans"]?.array ?? [] {
                        guard span["traceId"]?.string?.count == 32, span["spanId"]?.string?.count == 16 else {
                            return .json(400, ["code": 3, "message": "parse trace_id: length mismatch"])
                        }
                        spans += 1
                    }
                }
            }
            if breakage.current == .rejectsSpans {
                counters.withLock { $0.refusedSpans += spans }
                return .json(200, ["partialSuccess": ["rejectedSpans": .string(String(spans)), "errorMessage": "memory limit exceeded"]])
            }
            counters.withLock { $0.acceptedSpans += spans }
            export(body, spans: spans)
        } else {
            var points = 0
            for resource in body["resourceMetrics"]?.array ?? [] {
                for scope in resource["scopeMetrics"]?.array ?? [] {
                    for metric in scope["metrics"]?.array ?? [] { points += metric["gauge"]?["dataPoints"]?.array?.count ?? 0 }
                }
            }
            counters.withLock { $0.acceptedPoints += points }
        }
        return .json(200, ["partialSuccess": [:]])
    }

    /// Like the batch processor + otlp exporter: deliver later; a Tempo that is down or failing loses the batch.
    private func export(_ body: JSONValue, spans: Int) {
        guard let exporter = exporter.current else { return }
        guard breakage.current != .dropsSpans else {
            counters.withLock { $0.sendFailedSpans += spans }
            return
        }
        Task { [counters] in
            try? await Task.sleep(for: exporter.delay)
            let delivered = exporter.tempo.acceptsForwardedSpans && exporter.tempo.ingest(body).status == 200
            counters.withLock { if delivered { $0.sentSpans += spans } else { $0.sendFailedSpans += spans } }
        }
    }

    private func metrics(_ request: HTTPRequest) -> HTTPResponse {
        guard request.path == "/metrics" else { return .text(404, "404 page not found") }
        if breakage.current == .selfMetricsWithoutCollectorSeries {
            return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4", body: "# TYPE go_goroutines gauge\ngo_goroutines 12\n")
        }
        let c = counters.current
        let s = totalSuffix ? "_total" : ""
        let labels = "service_instance_id=\"5f4c\",service_name=\"otelcol-contrib\",service_version=\"0.159.0\""
        let text = """
        # HELP otelcol_process_uptime Uptime of the process
        # TYPE otelcol_process_uptime counter
        otelcol_process_uptime\(s){\(labels)} 42.51
        # HELP otelcol_receiver_accepted_spans Number of spans successfully pushed into the pipeline.
        # TYPE otelcol_receiver_accepted_spans counter
        otelcol_receiver_accepted_spans\(s){receiver="otlp",\(labels),transport="http"} \(c.acceptedSpans)
        otelcol_receiver_refused_spans\(s){receiver="otlp",\(labels),transport="http"} \(c.refusedSpans)
        otelcol_receiver_accepted_metric_points\(s){receiver="otlp",\(labels),transport="http"} \(c.acceptedPoints)
        otelcol_receiver_refused_metric_points\(s){receiver="otlp",\(labels),transport="http"} 0
        otelcol_exporter_sent_spans\(s){exporter="otlp",\(labels)} \(c.sentSpans)
        otelcol_exporter_send_failed_spans\(s){exporter="otlp",\(labels)} \(c.sendFailedSpans)
        target_info{\(labels)} 1

        """
        return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: text)
    }
}
