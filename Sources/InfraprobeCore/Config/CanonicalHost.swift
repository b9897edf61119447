import Glibc

/// A host in the one spelling the exporter matches, labels and connects with: a lower-case DNS
/// name without trailing dot, dotted-decimal IPv4, or RFC 5952 IPv6. The resolver accepts
/// `0x7f.1`, `2130706433` and `[::ffff:127.0.0.1]` for 127.0.0.1, so they are parsed the way
/// it parses them (WHATWG URL host rules) before `allowed_targets` sees them.
public enum CanonicalHost: Sendable, Equatable, CustomStringConvertible {
    case name(String)
    case ipv4([UInt8])
    case ipv6([UInt8])

    static let maxNameLength = 253
    static let maxLabelLength = 63

    /// `text` is the host without brackets; `bracketed` says it was written `[...]` (IPv6 only).
    public static func parse(_ text: Substring, bracketed: Bool) -> CanonicalHost? {
        if bracketed {
            // No zone ids (`%eth0`): they name an interface of this machine, not a service.
            guard !text.isEmpty, text.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }),
                  let bytes = ipv6Bytes(String(text)) else { return nil }
            // An IPv4-mapped address reaches the IPv4 host; it is that host.
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                return .ipv4(Array(bytes[12...]))
            }
            return .ipv6(bytes)
        }
        var name = text.lowercased()[...]
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty, name.utf8.count <= maxNameLength else { return nil }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            guard (1...maxLabelLength).contains(label.utf8.count), !label.hasPrefix("-"), !label.hasSuffix("-"),
                  label.utf8.allSatisfy({ isLDH($0) }) else { return nil }
        }
        // A name whose last label is a number is an IPv4 address, or nothing (WHATWG "ends in a number").
        if let last = labels.last, last.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
            || (last.hasPrefix("0x") && last.dropFirst(2).allSatisfy(\.isHexDigit)) {
            return ipv4(labels).map(CanonicalHost.ipv4)
        }
        return .name(String(name))
    }

    public var description: String {
        switch self {
        case .name(let name): return name
        case .ipv4(let bytes): return bytes.map(String.init).joined(separator: ".")
        case .ipv6(let bytes):
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil else { return "::" }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// As it goes into a URL or `host:port`: IPv6 in brackets.
    public var uriForm: String {
        if case .ipv6 = self { return "[\(description)]" }
        return description
    }

    /// Address bytes of an IP literal (4 or 16), for CIDR matching; nil for names.
    public var addressBytes: [UInt8]? {
        switch self {
        case .name: return nil
        case .ipv4(let bytes), .ipv6(let bytes): return bytes
        }
    }

    private static func isLDH(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x5F
    }

    static func ipv6Bytes(_ text: String) -> [UInt8]? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    /// Up to four parts, each decimal, `0`-prefixed octal or `0x` hex; the last fills the
    /// remaining bytes (`10.1` is 10.0.0.1), as inet_aton and the WHATWG parser read them.
    static func ipv4(_ parts: [Substring]) -> [UInt8]? {
        guard (1...4).contains(parts.count) else { return nil }
        var numbers: [UInt64] = []
        for part in parts {
            guard let number = ipv4Number(part) else { return nil }
            numbers.append(number)
        }
        guard numbers.dropLast().allSatisfy({ $0 <= 255 }) else { return nil }
        let lastBytes = 5 - parts.count
        guard numbers[numbers.count - 1] < (UInt64(1) << (8 * UInt64(lastBytes))) else { return nil }
        var bytes = numbers.dropLast().map { UInt8($0) }
        let last = numbers[numbers.count - 1]
        for index in (0..<lastBytes).reversed() { bytes.append(UInt8(truncatingIfNeeded: last >> (8 * UInt64(index)))) }
        return bytes
    }

    /// One part, capped at 2^32 so that no spelling can overflow.
    private static func ipv4Number(_ part: Substring) -> UInt64? {
        var digits = part.utf8[...], radix: UInt64 = 10
        if part.hasPrefix("0x") {
            digits = digits.dropFirst(2); radix = 16
        } else if part.count > 1 && part.hasPrefix("0") {
            digits = digits.dropFirst(); radix = 8
        }
        guard !digits.isEmpty || radix == 16 else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            let digit: UInt64
            switch byte {
            case 0x30...0x39: digit = UInt64(byte - 0x30)
            case 0x61...0x66: digit = UInt64(byte - 0x61 + 10)
            default: return nil
            }
            guard digit < radix else { return nil }
            value = value * radix + digit
            guard value <= 0xFFFF_FFFF else { return nil }
        }
        return value
    }
}
