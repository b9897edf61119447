/// One `allowed_targets` entry: a host glob (`redis-*.internal`), an exact host or IP, or a CIDR
/// (`10.0.0.0/8`, `[fd00::/8]`), optionally `:port` (a number or `*`); without a port any port
/// matches. In a glob `*` matches within one DNS label and `?` one character other than a dot,
/// so `10.0.0.*` never admits `10.0.0.1.attacker.example`; a host of just `*` matches every host.
/// Exact hosts and CIDRs are canonicalised like targets (`[0:0::1]` is `[::1]`, a CIDR
/// `[::ffff:10.0.0.0/104]` is `10.0.0.0/8`). CIDRs match only IP-literal targets: names are
/// never resolved to decide.
public struct TargetPattern: Sendable, CustomStringConvertible {
    enum Host: Sendable, Equatable {
        case any
        case exact(CanonicalHost)
        case glob([UInt8])
        case cidr(bytes: [UInt8], prefix: Int)
    }

    let host: Host
    let port: Int?
    public let description: String

    public init?(_ text: String) {
        description = text
        guard !text.isEmpty, text.utf8.count <= ModuleTarget.maxLength, text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        var hostText = Substring(text), portText: Substring?, bracketed = false
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            hostText = text[text.index(after: text.startIndex)..<close]
            bracketed = true
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return nil }
                portText = rest.dropFirst()
            }
        } else if let colon = text.lastIndex(of: ":") {
            hostText = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        if let portText {
            if portText == "*" {
                port = nil
            } else {
                guard let number = ModuleTarget.port(portText) else { return nil }
                port = number
            }
        } else {
            port = nil
        }
        guard !hostText.isEmpty else { return nil }
        if let slash = hostText.firstIndex(of: "/") {
            guard let cidr = Self.cidr(address: hostText[..<slash], prefix: hostText[hostText.index(after: slash)...], bracketed: bracketed) else { return nil }
            host = cidr
        } else if hostText == "*" {
            host = .any
        } else if hostText.contains(where: { $0 == "*" || $0 == "?" }) {
            var glob = hostText.lowercased()[...]
            if glob.hasSuffix(".") { glob = glob.dropLast() }
            let allowed = bracketed ? "0123456789abcdef:.*?" : "abcdefghijklmnopqrstuvwxyz0123456789-_.*?"
            guard !glob.isEmpty, glob.allSatisfy({ allowed.contains($0) }) else { return nil }
            host = .glob(Array(glob.utf8))
        } else {
            guard let exact = CanonicalHost.parse(hostText, bracketed: bracketed) else { return nil }
            host = .exact(exact)
        }
    }

    private static func cidr(address: Substring, prefix prefixText: Substring, bracketed: Bool) -> Host? {
        guard (1...3).contains(prefixText.utf8.count), prefixText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let prefix = Int(prefixText) else { return nil }
        if bracketed || address.contains(":") {
            guard let bytes = CanonicalHost.ipv6Bytes(String(address)), prefix <= 128 else { return nil }
            if prefix >= 96 && bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                return .cidr(bytes: Array(bytes[12...]), prefix: prefix - 96)
            }
            return .cidr(bytes: bytes, prefix: prefix)
        }
        // Networks are written in dotted decimal: the exotic spellings are for targets to be caught, not for configs.
        let parts = address.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ (1...3).contains($0.count) && $0.allSatisfy(\.isNumber) && !($0.count > 1 && $0.hasPrefix("0")) }),
              let bytes = CanonicalHost.ipv4(parts), prefix <= 32 else { return nil }
        return .cidr(bytes: bytes, prefix: prefix)
    }

    public func matches(_ target: ModuleTarget) -> Bool {
        if let port, target.port != port { return false }
        switch host {
        case .any:
            return true
        case .exact(let exact):
            return exact == target.host
        case .glob(let pattern):
            return Self.glob(pattern, Array(target.host.description.utf8))
        case .cidr(let network, let prefix):
            guard let address = target.host.addressBytes, address.count == network.count else { return false }
            var remaining = prefix
            for (a, n) in zip(address, network) where remaining > 0 {
                let bits = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if a & mask != n & mask { return false }
                remaining -= bits
            }
            return true
        }
    }

    /// `*` any run of bytes without a dot, `?` one byte other than a dot. Backtracks only to
    /// the last `*`, which is exact here because a `*` can never need to span a dot.
    static func glob(_ pattern: [UInt8], _ text: [UInt8]) -> Bool {
        let dot = UInt8(ascii: "."), star = UInt8(ascii: "*"), question = UInt8(ascii: "?")
        var p = 0, t = 0, starAt = -1, mark = 0
        while t < text.count {
            if p < pattern.count && ((pattern[p] == question && text[t] != dot) || pattern[p] == text[t]) {
                p += 1; t += 1
            } else if p < pattern.count && pattern[p] == star {
                starAt = p; mark = t; p += 1
            } else if starAt >= 0 && text[mark] != dot {
                p = starAt + 1; mark += 1; t = mark
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == star { p += 1 }
        return p == pattern.count
    }
}
