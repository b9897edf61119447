/// Counts the elements of a top-level JSON array as its bytes stream by, without keeping
/// them: a list of any size is counted in constant memory. It tracks only strings (so
/// brackets inside them do not count) and nesting depth; `isComplete` says whether the
/// array closed, which a truncated or non-array body does not.
public final class JSONArrayCounter: HTTPBodyConsumer, @unchecked Sendable {
    // Mutated only by `consume`, which the HTTP client calls serially before it answers.
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var sawElement = false
    private var commas = 0
    private var opened = false
    private var closed = false
    private var malformed = false

    public init() {}

    public func consume(_ chunk: UnsafeRawBufferPointer) {
        for byte in chunk { step(byte) }
    }

    func step(_ byte: UInt8) {
        if malformed || closed {
            if !Self.isSpace(byte) { malformed = true }
            return
        }
        if inString {
            if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
            return
        }
        switch byte {
        case UInt8(ascii: "\""):
            inString = true
            if depth == 1 { sawElement = true }
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            if depth == 0 {
                guard byte == UInt8(ascii: "[") else { malformed = true; return }
                opened = true
            } else if depth == 1 {
                sawElement = true
            }
            depth += 1
        case UInt8(ascii: "]"), UInt8(ascii: "}"):
            guard depth > 0 else { malformed = true; return }
            depth -= 1
            if depth == 0 { closed = true }
        case UInt8(ascii: ","):
            if depth == 1 { commas += 1 }
        default:
            if depth == 0 && !Self.isSpace(byte) { malformed = true }
            if depth == 1 && !Self.isSpace(byte) { sawElement = true }
        }
    }

    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }

    /// The array closed and nothing but whitespace followed it.
    public var isComplete: Bool { opened && closed && !malformed }

    /// Elements seen (meaningful when `isComplete`).
    public var count: Int { sawElement ? commas + 1 : 0 }
}
