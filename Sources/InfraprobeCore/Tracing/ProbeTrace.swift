/// One finished probe as a trace: a root span for the probe and a child span per component.
/// Ids are random (16 bytes for the trace, 8 per span), as OTLP wants them: lowercase hex.
public struct ProbeTrace: Sendable {
    public let traceID: String
    public let rootSpanID: String
    /// One span id per component of `result`, in the same order.
    public let componentSpanIDs: [String]
    public let result: TargetProbeResult

    /// Takes the trace id from the result when it has one (the id its exemplars carry).
    public init(result: TargetProbeResult) {
        self.traceID = result.traceID ?? Self.newTraceID()
        self.rootSpanID = randomHex(bytes: 8)
        self.componentSpanIDs = result.components.map { _ in randomHex(bytes: 8) }
        self.result = result
    }

    public static func newTraceID() -> String { randomHex(bytes: 16) }
}
