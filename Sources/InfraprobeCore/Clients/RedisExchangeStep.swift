/// One Redis round trip as a step: the commands (or, when they carry a secret, their command
/// line as shown, the secret replaced), a bounded copy of the replies, wire sizes and time;
/// joined into a command line and rendered like `redis-cli` only on demand.
public struct RedisExchangeStep: Sendable, Equatable {
    /// Empty when the commands carry a secret; `shownOverride` stands in for them then.
    private let commands: [[String]]
    private let shownOverride: String?
    public let replies: [RedisValue]
    /// Nil when the command carries a secret: its size would give away the secret's length.
    public let sentBytes: Int?
    public let receivedBytes: Int
    public let elapsed: Duration

    /// Reply elements and nesting kept: more than a 512-character step can show.
    static let elementLimit = 64
    static let depthLimit = 3
    /// What `RedisValue.description` shows of a bulk string.
    static let bulkBytesShown = 200

    /// `shown`: how the commands are shown when they may carry a secret (the setup's AUTH); kept
    /// instead of them when it hides one.
    init(sent commands: [[String]], shown: String? = nil, replies: [RedisValue], elapsed: Duration) {
        let hidden = shown.flatMap { Self.carriesSecret($0) ? $0 : nil }
        self.commands = hidden == nil ? commands : []
        shownOverride = hidden.map(Self.cut)
        self.replies = replies.prefix(Self.elementLimit).map { Self.bounded($0, depth: 1) }
        receivedBytes = replies.reduce(0) { $0 + RESPSize.of($1) }
        sentBytes = hidden != nil ? nil : commands.reduce(0) { $0 + RESPSize.of(command: $1) }
        self.elapsed = elapsed
    }

    /// `SET k v | GET k`, cut to a step's length.
    public var shown: String { shownOverride ?? Self.cut(Self.commandLine(commands)) }

    private static func cut(_ line: String) -> String {
        line.utf8.count <= ProbeStep.maxTextLength ? line : line.characterPrefix(ProbeStep.maxTextLength)
    }

    static func commandLine(_ commands: [[String]]) -> String {
        commands.map { $0.joined(separator: " ") }.joined(separator: " | ")
    }

    /// A plain byte search for the secret placeholder: Foundation's `contains` bridges to
    /// NSString and the generic `firstRange(of:)` is slower still; each cost a few percent of a
    /// Redis probe's CPU.
    private static func carriesSecret(_ shown: String) -> Bool {
        var text = shown
        var needle = Secret.placeholder
        return text.withUTF8 { haystack in
            needle.withUTF8 { wanted in
                guard let first = wanted.first, haystack.count >= wanted.count else { return wanted.isEmpty }
                var index = 0
                while index <= haystack.count - wanted.count {
                    if haystack[index] == first && haystack[index..<(index + wanted.count)].elementsEqual(wanted) { return true }
                    index += 1
                }
                return false
            }
        }
    }

    static func bounded(_ value: RedisValue, depth: Int) -> RedisValue {
        switch value {
        case .bulk(let bytes) where bytes.count > Self.bulkBytesShown:
            return .bulk(Array(bytes.prefix(Self.bulkBytesShown)))
        case .status(let text) where text.utf8.count > ProbeStep.maxTextLength:
            return .status(String(text.prefix(ProbeStep.maxTextLength)))
        case .error(let text) where text.utf8.count > ProbeStep.maxTextLength:
            return .error(String(text.prefix(ProbeStep.maxTextLength)))
        case .array(let values):
            guard depth < depthLimit else { return .status("[…]") }
            var kept = values.prefix(elementLimit).map { bounded($0, depth: depth + 1) }
            if values.count > elementLimit { kept.append(.status("…")) }
            return .array(kept)
        default:
            return value
        }
    }

    var rendered: String {
        let sizes = (sentBytes.map { "\($0) B sent, " } ?? "") + "\(receivedBytes) B received, "
        return "\(shown) → \(replies.map(\.description).joined(separator: " | ")) (\(sizes)\(ComponentRunner.formatSeconds(elapsed)))"
    }

    var estimatedBytes: Int {
        let sent = shownOverride?.utf8.count ?? commands.reduce(0) { $0 + $1.reduce(0) { $0 + 16 + $1.utf8.count } }
        return 64 + sent + replies.reduce(0) { $0 + 16 + RESPSize.of($1) }
    }
}
