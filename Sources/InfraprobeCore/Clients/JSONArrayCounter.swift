import Glibc

/// Counts the elements of a top-level JSON array as its bytes stream by, without keeping
/// them: a list of any size is counted in constant memory. It tracks only strings (so
/// brackets inside them do not count) and nesting depth; `isComplete` says whether the
/// array closed, which a truncated or non-array body does not.
public final class JSONArrayCounter: HTTPBodyConsumer, @unchecked Sendable {
    /// Mutated only by `consume`, which the HTTP client calls serially before it answers.
    private var state = ScanState()

    /// Plain values, so the scan runs on a local copy: `consume` runs on the HTTP client's one
    /// loop thread, and a list of tens of MB must not hold every other probe's transfer up.
    private struct ScanState {
        var depth = 0
        var inString = false
        var escaped = false
        var sawElement = false
        var commas = 0
        var opened = false
        var closed = false
        var malformed = false
    }

    public init() {}

    public func consume(_ chunk: UnsafeRawBufferPointer) {
        var scan = state
        defer { state = scan }
        var index = chunk.startIndex
        let end = chunk.endIndex
        var stringSpecials = StringSpecials(chunk)
        while index < end {
            let byte = chunk[index]
            index += 1
            if scan.malformed || scan.closed {
                if !Self.isSpace(byte) { scan.malformed = true }
                continue
            }
            if scan.inString {
                if scan.escaped { scan.escaped = false } else if byte == UInt8(ascii: "\\") { scan.escaped = true } else if byte == UInt8(ascii: "\"") { scan.inString = false }
                // Most of a large list is string contents (check outputs): jump to the next quote
                // or backslash with libc's memchr instead of looking at every byte.
                if scan.inString && !scan.escaped { index = stringSpecials.next(from: index) }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                scan.inString = true
                if scan.depth == 1 { scan.sawElement = true }
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                if scan.depth == 0 {
                    guard byte == UInt8(ascii: "[") else { scan.malformed = true; continue }
                    scan.opened = true
                } else if scan.depth == 1 {
                    scan.sawElement = true
                }
                scan.depth += 1
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                guard scan.depth > 0 else { scan.malformed = true; continue }
                scan.depth -= 1
                if scan.depth == 0 { scan.closed = true }
            case UInt8(ascii: ","):
                if scan.depth == 1 { scan.commas += 1 }
            default:
                if scan.depth == 0 && !Self.isSpace(byte) { scan.malformed = true }
                if scan.depth == 1 && !Self.isSpace(byte) { scan.sawElement = true }
            }
        }
    }

    /// The next `"` or `\\` in a chunk, found with memchr; each is searched for again only once
    /// the scan has passed the last one found, so a chunk costs two linear memchr passes at most.
    private struct StringSpecials {
        let chunk: UnsafeRawBufferPointer
        var nextQuote = -1
        var nextBackslash = -1

        init(_ chunk: UnsafeRawBufferPointer) { self.chunk = chunk }

        /// The index of the first quote or backslash at or after `index`, or the chunk's end if none.
        mutating func next(from index: Int) -> Int {
            if nextQuote < index { nextQuote = find(UInt8(ascii: "\""), from: index) }
            if nextBackslash < index { nextBackslash = find(UInt8(ascii: "\\"), from: index) }
            return min(nextQuote, nextBackslash)
        }

        private func find(_ byte: UInt8, from index: Int) -> Int {
            guard index < chunk.count, let base = chunk.baseAddress,
                  let found = memchr(base + index, Int32(byte), chunk.count - index) else { return chunk.count }
            return base.distance(to: UnsafeRawPointer(found))
        }
    }

    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }

    /// The array closed and nothing but whitespace followed it.
    public var isComplete: Bool { state.opened && state.closed && !state.malformed }

    /// Elements seen (meaningful when `isComplete`).
    public var count: Int { state.sawElement ? state.commas + 1 : 0 }
}
