/// Encodes probe traces as one OTLP/JSON `ExportTraceServiceRequest` (the trace and span ids
/// hex, times as decimal strings of Unix nanoseconds, enums as numbers, as OTLP/JSON wants).
public enum ProbeTraceEncoder {
    static let spanKindInternal = 1
    static let spanKindClient = 3
    static let statusError = 2

    public static func request(_ traces: [ProbeTrace], instanceID: String) -> JSONValue {
        let spans = traces.flatMap(spans(of:))
        let resource: JSONValue = ["attributes": [attribute("service.name", "infraprobe"), attribute("service.instance.id", instanceID),
                                                  attribute("service.version", BuildInfo.version)]]
        return ["resourceSpans": [["resource": resource,
                                   "scopeSpans": [["scope": ["name": "infraprobe", "version": .string(BuildInfo.version)],
                                                   "spans": .array(spans)]]]]]
    }

    static func spans(of trace: ProbeTrace) -> [JSONValue] {
        let result = trace.result
        let start = nanos(result.startedAt)
        let base = [attribute("infraprobe.target", result.target), attribute("infraprobe.prober", result.prober)]
        var root: [String: JSONValue] = [
            "traceId": .string(trace.traceID), "spanId": .string(trace.rootSpanID), "name": .string("probe \(result.prober)"),
            "kind": .number(Double(spanKindInternal)),
            "startTimeUnixNano": .string(String(start)), "endTimeUnixNano": .string(String(start + nanos(result.duration))),
            "attributes": .array(base + [attribute("infraprobe.components", result.components.count),
                                         attribute("infraprobe.components_up", result.passed)]),
        ]
        let failed = result.components.count - result.passed
        if failed > 0 { root["status"] = status("\(failed) of \(result.components.count) components failed") }
        var spans: [JSONValue] = [.object(root)]
        for (component, spanID) in zip(result.components, trace.componentSpanIDs) {
            let componentStart = start + nanos(component.startOffset)
            var attributes = base + [attribute("infraprobe.component", component.component)]
            var span: [String: JSONValue] = [
                "traceId": .string(trace.traceID), "spanId": .string(spanID), "parentSpanId": .string(trace.rootSpanID),
                "name": .string(component.component), "kind": .number(Double(spanKindClient)),
                "startTimeUnixNano": .string(String(componentStart)),
                "endTimeUnixNano": .string(String(componentStart + nanos(component.duration))),
                // Step offsets count from the probe's start, like the debug report shows them.
                "events": .array(component.steps.map { step in
                    ["timeUnixNano": .string(String(start + nanos(step.offset))), "name": .string(step.text)]
                }),
            ]
            if let failure = component.failure {
                attributes.append(attribute("infraprobe.reason", failure.reason.rawValue))
                if let hop = failure.hop { attributes.append(attribute("infraprobe.hop", hop)) }
                span["status"] = status("\(failure.reason.rawValue): \(failure.message)")
            }
            span["attributes"] = .array(attributes)
            spans.append(.object(span))
        }
        return spans
    }

    static func status(_ message: String) -> JSONValue {
        ["code": .number(Double(statusError)), "message": .string(message)]
    }

    static func attribute(_ key: String, _ value: String) -> JSONValue {
        ["key": .string(key), "value": ["stringValue": .string(value)]]
    }

    /// OTLP/JSON carries int64 attribute values as decimal strings.
    static func attribute(_ key: String, _ value: Int) -> JSONValue {
        ["key": .string(key), "value": ["intValue": .string(String(value))]]
    }

    static func nanos(_ secondsSinceEpoch: Double) -> UInt64 {
        guard secondsSinceEpoch.isFinite, secondsSinceEpoch > 0, secondsSinceEpoch < 1e10 else { return 0 }
        return UInt64(secondsSinceEpoch * 1e9)
    }

    static func nanos(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, seconds < 1_000_000_000 else { return 0 }
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}
