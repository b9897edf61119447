/// One HTTP request as a step: what was asked and what came back, as values. The URL is
/// kept as sent and redacted when rendered; of the body only its size and first bytes.
public struct HTTPExchangeStep: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        case response(status: Int, bodyBytes: Int, bodyHead: [UInt8])
        case failed(FailureReason, message: String)
    }

    /// Body bytes kept for the rendered snippet.
    public static let headLimit = 200

    public let method: String
    public let url: String
    /// Request body size; request bodies are counted, never shown (the service may echo them).
    public let sentBytes: Int?
    public let elapsed: Duration
    public let outcome: Outcome

    public init(method: String, url: String, sentBytes: Int?, elapsed: Duration, outcome: Outcome) {
        self.method = method
        self.url = url
        self.sentBytes = sentBytes
        self.elapsed = elapsed
        self.outcome = outcome
    }

    public init(method: String, url: String, sentBytes: Int?, elapsed: Duration, status: Int, body: [UInt8]) {
        self.init(method: method, url: url, sentBytes: sentBytes, elapsed: elapsed,
                  outcome: .response(status: status, bodyBytes: body.count, bodyHead: Array(body.prefix(Self.headLimit))))
    }

    var rendered: String {
        let shown = HTTPEndpoint.redactedURL(url) + (sentBytes.map { " [\($0) B sent]" } ?? "")
        switch outcome {
        case .failed(let reason, let message):
            return "\(method) \(shown) → \(reason.rawValue): \(message) after \(HTTPEndpoint.ms(elapsed))"
        case .response(let status, let bodyBytes, let head):
            let snippet = head.isEmpty ? "" : " " + HTTPEndpoint.snippet(head, limit: Self.headLimit) + (bodyBytes > head.count ? "…" : "")
            return "\(method) \(shown) → \(status) (\(bodyBytes) B, \(HTTPEndpoint.ms(elapsed)))" + snippet
        }
    }

    var estimatedBytes: Int {
        let outcomeBytes: Int
        switch outcome {
        case .response(_, _, let head): outcomeBytes = 32 + head.count
        case .failed(_, let message): outcomeBytes = 32 + message.utf8.count
        }
        return 64 + method.utf8.count + url.utf8.count + outcomeBytes
    }
}
