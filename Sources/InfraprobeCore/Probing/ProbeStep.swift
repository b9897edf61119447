/// One command or request a component made, kept for `debug=true`, `/logs` and probe traces.
/// It is stored as values (a few hundred bytes at most); `text` renders it, with secrets
/// redacted, control characters escaped and cut to `maxTextLength`, only when someone reads it.
public struct ProbeStep: Sendable, Equatable {
    public enum Detail: Sendable, Equatable {
        case note(String)
        case http(HTTPExchangeStep)
        case redis(RedisExchangeStep)
        /// A connection opened (TCP or unix connect), and how long that took.
        case connected(RedisAddress, Duration)
    }

    public static let maxTextLength = 512

    public let offset: Duration
    public let detail: Detail

    public init(offset: Duration, detail: Detail) {
        self.offset = offset
        self.detail = detail
    }

    public init(offset: Duration, text: String) {
        self.init(offset: offset, detail: .note(text))
    }

    public var text: String {
        let raw: String
        switch detail {
        case .note(let note): raw = note
        case .http(let exchange): raw = exchange.rendered
        case .redis(let exchange): raw = exchange.rendered
        case .connected(let address, let elapsed): raw = "connected to \(address) in \(ComponentRunner.formatSeconds(elapsed))"
        }
        return raw.prefix(Self.maxTextLength).escapingControlCharacters
    }

    /// Roughly what the step keeps in memory, for the history's byte budget.
    public var estimatedBytes: Int {
        switch detail {
        case .note(let note): return 48 + note.utf8.count
        case .http(let exchange): return 48 + exchange.estimatedBytes
        case .redis(let exchange): return 48 + exchange.estimatedBytes
        case .connected(.tcp(let host, _), _): return 72 + host.utf8.count
        case .connected(.unix(let path), _): return 72 + path.utf8.count
        }
    }

    /// A note at most `maxTextLength` characters long, without walking a short text's characters.
    static func note(_ text: String) -> Detail {
        .note(text.utf8.count <= maxTextLength ? text : text.characterPrefix(maxTextLength))
    }
}
