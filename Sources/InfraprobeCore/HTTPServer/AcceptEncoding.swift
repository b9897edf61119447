/// A request's `Accept-Encoding` (RFC 9110 §12.5.3): codings with q-values, names and
/// parameters case-insensitive, optional whitespace around every separator. An element whose
/// q-value is not a valid qvalue is ignored, as if it were absent.
struct AcceptEncoding: Sendable {
    /// Lower-cased coding → q, first occurrence wins.
    private var weights: [String: Double] = [:]
    let present: Bool

    init(_ header: String?) {
        present = header != nil
        guard let header else { return }
        for element in header.split(separator: ",") {
            let fields = element.split(separator: ";", omittingEmptySubsequences: false).map { Self.trim($0) }
            guard let coding = fields.first?.lowercased(), !coding.isEmpty else { continue }
            var quality = 1.0
            var valid = true
            for parameter in fields.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map { Self.trim($0) }
                guard pair.count == 2, pair[0].lowercased() == "q" else { continue }
                guard let value = Self.qvalue(pair[1]) else { valid = false; break }
                quality = value
            }
            if valid && weights[coding] == nil { weights[coding] = quality }
        }
    }

    /// False when `acceptsGzip` is sure to be false: the header names neither gzip (nor
    /// x-gzip) in any case nor `*`. A scan of its bytes, without building the weights.
    static func mayAcceptGzip(_ header: String) -> Bool {
        let gzip: (UInt8, UInt8, UInt8, UInt8) = (UInt8(ascii: "g"), UInt8(ascii: "z"), UInt8(ascii: "i"), UInt8(ascii: "p"))
        var matched = 0
        for byte in header.utf8 {
            if byte == UInt8(ascii: "*") { return true }
            let lower = byte | 0x20  // ASCII letters only: no other byte ORs to one of g, z, i, p
            let next = switch matched {
            case 0: gzip.0
            case 1: gzip.1
            case 2: gzip.2
            default: gzip.3
            }
            matched = lower == next ? matched + 1 : (lower == gzip.0 ? 1 : 0)
            if matched == 4 { return true }
        }
        return false
    }

    /// The q-value the client gives a coding, explicitly or through `*`; nil if neither is listed.
    func quality(of coding: String) -> Double? {
        weights[coding] ?? weights["*"]
    }

    /// gzip (or its alias x-gzip) is acceptable. Without the header nothing is compressed.
    var acceptsGzip: Bool {
        guard present else { return false }
        return (weights["gzip"] ?? weights["x-gzip"] ?? weights["*"] ?? 0) > 0
    }

    /// The client refused an uncompressed body (`identity;q=0`, or `*;q=0` without identity).
    var refusesIdentity: Bool {
        quality(of: "identity") == 0
    }

    /// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`
    static func qvalue(_ text: String) -> Double? {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1"), bytes.count <= 5 else { return nil }
        if bytes.count == 1 { return first == UInt8(ascii: "1") ? 1 : 0 }
        guard bytes[1] == UInt8(ascii: ".") else { return nil }
        let decimals = bytes.dropFirst(2)
        if first == UInt8(ascii: "1") { return decimals.allSatisfy { $0 == UInt8(ascii: "0") } ? 1 : nil }
        guard decimals.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        var value = 0.0, scale = 0.1
        for digit in decimals {
            value += Double(digit - UInt8(ascii: "0")) * scale
            scale /= 10
        }
        return value
    }

    private static func trim(_ text: Substring) -> String {
        String(text.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
