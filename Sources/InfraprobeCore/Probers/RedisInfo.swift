/// `INFO` output: `field:value` lines under `# Section` headers. Kept as the reply's bytes and
/// searched per field asked for: a probe asks for two to four of the fifty-odd fields, and a
/// dictionary of them all cost two strings and a hash per line (walking Characters instead of
/// bytes cost a tenth of the probe's CPU time before that). A field repeated takes its last value.
struct RedisInfo {
    private let bytes: [UInt8]

    init(_ text: String) { bytes = Array(text.utf8) }

    /// The reply to `INFO`: its bulk bytes as they came, without a String in between.
    init(reply: RedisValue) {
        switch reply {
        case .bulk(let bulk): bytes = bulk
        case .status(let text): bytes = Array(text.utf8)
        default: bytes = []
        }
    }

    subscript(_ field: String) -> String? {
        var name = field
        return name.withUTF8 { wanted in
            bytes.withUnsafeBufferPointer { info in value(of: wanted, in: info) }
        }
    }

    private func value(of wanted: UnsafeBufferPointer<UInt8>, in info: UnsafeBufferPointer<UInt8>) -> String? {
        // The first colon of a line ends its name, so a name holding one is never found.
        guard !wanted.contains(UInt8(ascii: ":")) else { return nil }
        var found: Range<Int>?
        var lineStart = 0
        while lineStart < info.count {
            var lineEnd = lineStart
            while lineEnd < info.count && info[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            let colon = lineStart + wanted.count
            if colon < lineEnd, info[colon] == UInt8(ascii: ":"), info[lineStart] != UInt8(ascii: "#"),
               info[lineStart..<colon].elementsEqual(wanted) {
                var valueEnd = lineEnd
                if info[valueEnd - 1] == UInt8(ascii: "\r") { valueEnd -= 1 }
                found = (colon + 1)..<max(colon + 1, valueEnd)
            }
            lineStart = lineEnd + 1
        }
        return found.map { String(decoding: UnsafeBufferPointer(rebasing: info[$0]), as: UTF8.self) }
    }

    /// A field Redis writes as an unsigned decimal (bytes, seconds): nil when absent, and
    /// `unexpected_response` when present as anything else (`-1`, `1e300`, `nan`, 400 digits).
    func count(_ field: String) throws -> UInt64? {
        guard let text = self[field] else { return nil }
        guard let value = UInt64(text) else {
            throw ProbeFailure(.unexpectedResponse, "INFO field \(field) is not an unsigned integer: \"\(String(text.prefix(40)))\"")
        }
        return value
    }
}
