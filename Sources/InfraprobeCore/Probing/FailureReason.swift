/// The closed set of reasons a component can fail with; the `reason` label's only values.
public enum FailureReason: String, Sendable, CaseIterable, Codable {
    case timeout
    case connectionRefused = "connection_refused"
    case dns
    case tls
    case auth
    case httpStatus = "http_status"
    case `protocol`
    case unexpectedResponse = "unexpected_response"
    case notReady = "not_ready"
    case resourceExhausted = "resource_exhausted"
    case dependencyFailed = "dependency_failed"

    /// Failures after which nothing else on the service can be attempted usefully.
    public var meansServiceUnreachable: Bool {
        self == .connectionRefused || self == .dns || self == .timeout
    }
}

/// What a component check throws when the service did not do what was asked.
public struct ProbeFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: FailureReason
    public let message: String
    /// For pipeline components: which link of the chain broke.
    public let hop: String?

    public init(_ reason: FailureReason, _ message: String, hop: String? = nil) {
        self.reason = reason
        // Messages quote what services sent; they reach logs, metrics labels and pages.
        self.message = message.escapingControlCharacters
        self.hop = hop
    }

    public var description: String { "\(reason.rawValue): \(message)" }
}
