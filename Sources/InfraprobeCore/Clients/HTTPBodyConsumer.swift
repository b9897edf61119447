/// Reads a response body as it arrives, on the HTTP client's transfer thread, one chunk
/// at a time and in order; the client's answer comes only after the last chunk.
public protocol HTTPBodyConsumer: AnyObject, Sendable {
    func consume(_ chunk: UnsafeRawBufferPointer)
}

public enum HTTPBodyConsumerLimits {
    /// How much of a streamed body the response still keeps (error texts, step logs).
    public static let keptBytes = 64 * 1024
}
