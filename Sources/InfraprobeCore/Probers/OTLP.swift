import FoundationEssentials
import Glibc

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

    /// POSTs OTLP/JSON and requires 200 with a `partialSuccess` that rejected nothing (the
    /// collector never fills it; other backends may). A collector refuses under pressure with
    /// 503 (memory_limiter, full sending queue) or 429, as a google.rpc.Status.
    static func push(_ endpoint: HTTPEndpoint, _ path: String, body: JSONValue, rejectedField: String,
                     extraHeaders: [(String, String)] = [], deadline: Deadline? = nil, context: ComponentContext) async throws {
        let response = try await endpoint.call("POST", path, body: body.serialized, contentType: "application/json",
                                               headers: extraHeaders, expect: [200, 400, 404, 415, 429, 500, 503], deadline: deadline, context: context)
        let status = statusMessage(response)
        switch response.status {
        case 404:
            // Go's mux answers text when no pipeline registered the path; a JSON Status is a
            // downstream `Unimplemented` passed back by a synchronous exporter.
            if let status {
                throw ProbeFailure(.httpStatus, "POST \(path) answered 404 from downstream (Unimplemented): \(status)")
            }
            throw ProbeFailure(.httpStatus, "POST \(path) answered 404: no pipeline for this signal uses the OTLP receiver")
        case 400, 415:
            let message = status ?? HTTPEndpoint.snippet(response.body, limit: 120)
            throw ProbeFailure(.protocol, "POST \(path) rejected the payload (\(response.status)): \(message)")
        case 429, 503:
            throw ProbeFailure(.resourceExhausted, "POST \(path) refused, retry later (\(response.status))"
                               + ": \(status ?? HTTPEndpoint.snippet(response.body, limit: 120))")
        case 500:
            throw ProbeFailure(.httpStatus, "POST \(path) failed permanently (500): \(status ?? HTTPEndpoint.snippet(response.body, limit: 120))")
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

    /// The `message` of a google.rpc.Status JSON body, if the body is one.
    static func statusMessage(_ response: HTTPClientResponse) -> String? {
        guard let json = JSONValue.parse(response.body), json["code"]?.double != nil else { return nil }
        return json["message"]?.string ?? ""
    }
}
