import Foundation
import InfraprobeCore

/// An OpenTelemetry Collector per `reference/service-apis.md` §6, `shared/conformance/otelcol`
/// and `reference/fidelity-consul-otel.md`: the health_check extension in its modes (v1 JSON,
/// custom body, check_collector_pipeline, v2 JSON), the OTLP/HTTP receiver (JSON and protobuf;
/// 405/415/400 errors; `{"partialSuccess":{}}`, never a rejection; 503/429 google.rpc.Status
/// under pressure), and :8888 self-metrics as the version it pretends to be writes them.
final class FakeOTelCollector: FakeService, @unchecked Sendable {
    enum Break: Sendable, Equatable {
        case none
        /// Starting or shutting down: health 503 (v2: `StatusStarting`).
        case notReady
        /// A component failed fatally: v2 answers 500 and check_collector_pipeline 500; v1 503.
        case fatal
        /// memory_limiter refusing: 503 `{"code":14,"message":"data refused due to high memory usage"}`.
        case memoryPressure
        /// A full exporter sending queue: 503 `sending queue is full`.
        case queueFull
        /// A ResourceExhausted status downstream: 429 with `Retry-After`.
        case throttled
        /// A synchronous exporter whose backend lacks the service: 404 JSON Status (Unimplemented).
        case downstreamUnimplemented
        case noMetricsPipeline
        case selfMetricsWithoutCollectorSeries
        /// Spans are accepted (200, nothing rejected) but the exporter never delivers them.
        case dropsSpans
    }

    /// How the health_check extension is configured.
    enum HealthMode: Sendable, Equatable {
        /// The default handler: `{"status":"Server available",…}` / 503 `Server not available`.
        case v1
        /// `response_body: {healthy, unhealthy}`: the bare strings, no JSON.
        case customBody(healthy: String, unhealthy: String)
        /// Deprecated `check_collector_pipeline.enabled`: 200 or 500 with an empty body.
        case checkCollectorPipeline
        /// healthcheckv2 (`use_v2`) or the `useComponentStatus` gate: `{"healthy":…,"status":"StatusOK",…}`.
        case v2
    }

    struct Counters: Equatable {
        var acceptedSpans = 0
        var refusedSpans = 0
        var acceptedPoints = 0
        var sentSpans = 0
        var sendFailedSpans = 0
    }

    let breakage = Locked(Break.none)
    /// Every accepted span (the JSON form; protobuf is decoded to it), for tests to inspect; bounded.
    let receivedSpans = Locked<[JSONValue]>([])
    static let receivedSpansLimit = 10_000
    let counters = Locked(Counters())
    let version: FakeVersion
    /// `service.telemetry.metrics.readers` configured explicitly: v0.119–v0.151 then add
    /// `_total` and unit suffixes (and v0.130 a `__<unit>__` annotation).
    let explicitReaders: Bool
    let healthMode: HealthMode
    /// The extension's `path`; a subtree path (`/health/`) makes Go's mux redirect `/health`.
    let healthPath: String
    /// With an authenticator extension configured the receiver wants this bearer token.
    let bearer: String?

    /// The otlp exporter: accepted spans reach this Tempo after `delay` (the batch processor's timeout).
    let exporter = Locked<(tempo: FakeTempo, delay: Duration)?>(nil)

    func forward(to tempo: FakeTempo, delay: Duration = .milliseconds(200)) {
        exporter.withLock { $0 = (tempo, delay) }
    }

    init(version: FakeVersion = "0.159.0", explicitReaders: Bool = false, healthMode: HealthMode = .v1, healthPath: String? = nil,
         bearer: String? = nil) {
        self.version = version
        self.explicitReaders = explicitReaders
        self.healthMode = healthMode
        self.healthPath = healthPath ?? (healthMode == .v2 ? "/status" : "/")
        self.bearer = bearer
        super.init(roles: ["health", "otlp", "metrics"])
    }

    /// The health URL a user would configure (the extension's endpoint and path).
    var healthURL: String { url("health") + healthPath }

    override func route(role: String, request: HTTPRequest) -> HTTPResponse {
        switch role {
        case "health": return health(request)
        case "otlp": return otlp(request)
        default: return metrics(request)
        }
    }

    private func health(_ request: HTTPRequest) -> HTTPResponse {
        // http.ServeMux: "/" matches everything; "/x/" matches its subtree and redirects "/x"; "/x" only itself.
        if healthPath != "/" {
            if healthPath.hasSuffix("/") && request.path == String(healthPath.dropLast()) {
                return HTTPResponse(status: 301, contentType: "text/html; charset=utf-8",
                                    body: "<a href=\"\(healthPath)\">Moved Permanently</a>.\n\n", headers: [("Location", healthPath)])
            }
            let matches = healthPath.hasSuffix("/") ? request.path.hasPrefix(healthPath) : request.path == healthPath
            guard matches else { return .text(404, "404 page not found") }
        }
        let broken = breakage.current
        let ready = broken != .notReady && broken != .fatal
        switch healthMode {
        case .v1:
            if !ready { return .json(503, ["status": "Server not available", "upSince": "0001-01-01T00:00:00Z", "uptime": ""]) }
            return .json(200, ["status": "Server available", "upSince": "2026-11-26T04:12:31.6847174Z", "uptime": "49.0132518s"])
        case .customBody(let healthy, let unhealthy):
            var response = HTTPResponse(status: ready ? 200 : 503, body: "")
            response.headers = []
            response.body = Array((ready ? healthy : unhealthy).utf8)
            return response
        case .checkCollectorPipeline:
            var response = HTTPResponse(status: broken == .fatal ? 500 : ready ? 200 : 503, body: "")
            response.headers = []
            return response
        case .v2:
            let times: [String: JSONValue] = ["start_time": "2026-11-26T04:12:31.6847174Z", "status_time": "2026-11-26T04:13:20.7002Z"]
            switch broken {
            case .fatal:
                return .json(500, .object(times.merging(["healthy": false, "status": "StatusFatalError",
                                                         "error": "exporter otlp: rpc error: code = Unavailable"]) { $1 }))
            case .notReady:
                return .json(503, .object(times.merging(["healthy": false, "status": "StatusStarting"]) { $1 }))
            default:
                return .json(200, .object(times.merging(["healthy": true, "status": "StatusOK"]) { $1 }))
            }
        }
    }

    enum Encoding { case json, protobuf }

    /// An answer in the request's encoding, as otlphttp.go writes it.
    private func reply(_ encoding: Encoding, _ status: Int, code: Int? = nil, message: String = "", headers: [(String, String)] = []) -> HTTPResponse {
        switch encoding {
        case .json:
            guard let code else { return .json(status, ["partialSuccess": [:]], headers: headers) }
            return .json(status, ["code": .number(Double(code)), "message": .string(message)], headers: headers)
        case .protobuf:
            var response = HTTPResponse(status: status, contentType: "application/x-protobuf", body: "", headers: headers)
            if let code { response.body = OTLPProtobuf.status(code: code, message: message) }
            return response
        }
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
        guard request.method == "POST" else { return plain(405, "405 method not allowed, supported: [POST]") }
        if let bearer, request.header("authorization") != "Bearer \(bearer)" {
            return .text(401, "Unauthorized")
        }
        let mediaType = (request.header("content-type") ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let encoding: Encoding
        switch mediaType {
        case "application/json": encoding = .json
        case "application/x-protobuf": encoding = .protobuf
        default: return plain(415, "415 unsupported media type, supported: [application/json, application/x-protobuf]")
        }
        let body: JSONValue
        do {
            switch encoding {
            case .json:
                // The real receiver's own test: a JSON number (`1234`) is 400, like any non-object.
                guard let parsed = request.json, parsed.object != nil else {
                    throw OTLPProtobuf.DecodeError(description: "ReadObject: expect { or n, but found \(request.body.first.map { String(UnicodeScalar($0)) } ?? "EOF")")
                }
                body = parsed
            case .protobuf:
                body = signal == "traces" ? try OTLPProtobuf.traces(request.body) : try OTLPProtobuf.metricPointCounts(request.body)
            }
        } catch {
            return reply(encoding, 400, code: 3, message: "\(error)")
        }
        var items = 0
        if signal == "traces" {
            for resource in body["resourceSpans"]?.array ?? [] {
                for scope in resource["scopeSpans"]?.array ?? [] {
                    for span in scope["spans"]?.array ?? [] {
                        guard span["traceId"]?.string?.count == 32, span["spanId"]?.string?.count == 16 else {
                            return reply(encoding, 400, code: 3, message: "ReadObject: parse trace_id: length mismatch")
                        }
                        items += 1
                    }
                }
            }
        } else {
            for resource in body["resourceMetrics"]?.array ?? [] {
                for scope in resource["scopeMetrics"]?.array ?? [] {
                    for metric in scope["metrics"]?.array ?? [] {
                        for kind in ["gauge", "sum", "histogram", "exponentialHistogram", "summary"] {
                            items += metric[kind]?["dataPoints"]?.array?.count ?? 0
                        }
                    }
                }
            }
        }
        switch breakage.current {
        case .memoryPressure, .queueFull, .throttled:
            if signal == "traces" { counters.withLock { $0.refusedSpans += items } }
            switch breakage.current {
            case .memoryPressure: return reply(encoding, 503, code: 14, message: "data refused due to high memory usage")
            case .queueFull: return reply(encoding, 503, code: 14, message: "sending queue is full")
            default: return reply(encoding, 429, code: 8, message: "resource exhausted: backend throttling", headers: [("Retry-After", "30")])
            }
        case .downstreamUnimplemented:
            return reply(encoding, 404, code: 12, message: "unknown service opentelemetry.proto.collector.trace.v1.TraceService")
        default: break
        }
        if signal == "traces" {
            counters.withLock { $0.acceptedSpans += items }
            let spans = (body["resourceSpans"]?.array ?? []).flatMap { ($0["scopeSpans"]?.array ?? []).flatMap { $0["spans"]?.array ?? [] } }
            receivedSpans.withLock { $0 = Array(($0 + spans).suffix(Self.receivedSpansLimit)) }
            export(body, spans: items)
        } else {
            counters.withLock { $0.acceptedPoints += items }
        }
        return reply(encoding, 200)
    }

    /// Go's handlers write these with `Content-Type: text/plain` and no trailing newline.
    private func plain(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "text/plain", body: text)
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

    /// The name a series gets from this version's Prometheus reader: bare by default; with
    /// explicit readers in v0.119–v0.151, the unit and `_total` (v0.130: `__<unit>__` too).
    func exposedName(_ name: String, unit: String?, counter: Bool) -> String {
        guard explicitReaders, version >= "0.119.0", version < "0.152.0" else { return name }
        if version == "0.130.0", let unit { return name + "__\(unit)__" + (counter ? "total" : "") }
        let exposed = name + (unit == "seconds" ? "_seconds" : "")
        return counter ? exposed + "_total" : exposed
    }

    private func metrics(_ request: HTTPRequest) -> HTTPResponse {
        guard request.path == "/metrics" else { return .text(404, "404 page not found") }
        if breakage.current == .selfMetricsWithoutCollectorSeries {
            return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4", body: "# TYPE go_goroutines gauge\ngo_goroutines 12\n")
        }
        let c = counters.current
        let service = "service_instance_id=\"5f4c1d2e-8a9b-4c3d-9e8f-7a6b5c4d3e2f\",service_name=\"otelcol-contrib\",service_version=\"\(version)\""
        // v0.149.0 (#14811): the service labels live only on target_info.
        let onEvery = version < "0.149.0" ? [service] : []
        func series(_ name: String, unit: String?, counter: Bool, help: String, _ labels: [String], _ value: String) -> String {
            let exposed = exposedName(name, unit: unit, counter: counter)
            let all = (labels + onEvery).joined(separator: ",")
            return "# HELP \(exposed) \(help)\n# TYPE \(exposed) \(counter ? "counter" : "gauge")\n\(exposed)\(all.isEmpty ? "" : "{\(all)}") \(value)\n"
        }
        let receiver = ["receiver=\"otlp\"", "transport=\"http\""]
        let exporter = ["exporter=\"otlp\""]
        let text = series("otelcol_process_uptime", unit: "seconds", counter: true, help: "Uptime of the process", [], "42.51")
            + series("otelcol_process_memory_rss", unit: "bytes", counter: false, help: "Total physical memory (resident set size)", [], "1.2288e+08")
            + series("otelcol_process_runtime_heap_alloc_bytes", unit: "bytes", counter: false, help: "Bytes of allocated heap objects", [], "4.5e+07")
            + series("otelcol_receiver_accepted_spans", unit: "spans", counter: true, help: "Number of spans successfully pushed into the pipeline.", receiver, "\(c.acceptedSpans)")
            + series("otelcol_receiver_refused_spans", unit: "spans", counter: true, help: "Number of spans that could not be pushed into the pipeline.", receiver, "\(c.refusedSpans)")
            + series("otelcol_receiver_accepted_metric_points", unit: "datapoints", counter: true, help: "Number of metric points successfully pushed into the pipeline.", receiver, "\(c.acceptedPoints)")
            + series("otelcol_receiver_refused_metric_points", unit: "datapoints", counter: true, help: "Number of metric points that could not be pushed into the pipeline.", receiver, "0")
            + series("otelcol_exporter_sent_spans", unit: "spans", counter: true, help: "Number of spans successfully sent to destination.", exporter, "\(c.sentSpans)")
            + series("otelcol_exporter_send_failed_spans", unit: "spans", counter: true, help: "Number of spans in failed attempts to send to destination.", exporter, "\(c.sendFailedSpans)")
            + "# HELP target_info Target metadata\n# TYPE target_info gauge\ntarget_info{\(service)} 1\n"
        return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: text)
    }
}
