/// The `target` parameter of a module probe: `host`, `host:port`, `[v6]` or `[v6]:port`, and
/// for kinds whose address is a URL also `http(s)://` before that (with at most a bare `/`
/// after it). Nothing else: no path, query, fragment, userinfo, zone id, percent escape or
/// whitespace, since what comes from the caller must never steer where the module's
/// credentials go. `text` is the canonical spelling, used for matching, labels and connecting.
public struct ModuleTarget: Sendable, Equatable {
    public let scheme: String?
    public let host: CanonicalHost
    public let port: Int?

    /// Longer than any valid form (`https://` + 253-byte name + `:65535`).
    static let maxLength = 300

    public struct Rejection: Error, Sendable, Equatable {
        public let reason: String
    }

    public init?(_ text: String, allowsScheme: Bool = true) {
        guard case .success(let target) = Self.parse(text, allowsScheme: allowsScheme) else { return nil }
        self = target
    }

    init(scheme: String?, host: CanonicalHost, port: Int?) {
        self.scheme = scheme
        self.host = host
        self.port = port
    }

    public static func parse(_ text: String, allowsScheme: Bool) -> Result<ModuleTarget, Rejection> {
        func reject(_ reason: String) -> Result<ModuleTarget, Rejection> { .failure(Rejection(reason: reason)) }
        guard !text.isEmpty else { return reject("is empty") }
        guard text.utf8.count <= maxLength else { return reject("is longer than \(maxLength) bytes") }
        guard text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return reject("contains a space, control or non-ASCII character (write international names as xn--)")
        }
        guard !text.contains("@") else { return reject("must not carry credentials (user@); the module supplies them") }
        var authority = Substring(text)
        var scheme: String?
        if let separator = text.firstRange(of: "://") {
            let name = text[..<separator.lowerBound].lowercased()
            guard name == "http" || name == "https" else { return reject("has scheme \"\(name.prefix(20))\"; only http and https are known") }
            guard allowsScheme else { return reject("takes no scheme for this prober: host, host:port or [v6]:port") }
            scheme = name
            authority = text[separator.upperBound...]
            if authority.hasSuffix("/") { authority = authority.dropLast() }
        }
        guard !authority.contains(where: { "/?#\\%".contains($0) }) else {
            return reject("must be a host and port only: no path, query, fragment, escape or backslash")
        }
        var hostText: Substring, portText: Substring?, bracketed = false
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return reject("has an unclosed [") }
            hostText = authority[authority.index(after: authority.startIndex)..<close]
            bracketed = true
            let rest = authority[authority.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return reject("has text after ]: expected :port") }
                portText = rest.dropFirst()
            }
        } else {
            let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { return reject("has more than one colon; write IPv6 addresses as [v6]:port") }
            hostText = parts[0]
            portText = parts.count == 2 ? parts[1] : nil
        }
        guard let host = CanonicalHost.parse(hostText, bracketed: bracketed) else {
            return reject(bracketed ? "is not an IPv6 address in brackets (zone ids are not accepted)"
                                    : "is not a DNS name (labels of 1-63 letters, digits, - and _) or an IP address")
        }
        var port: Int?
        if let portText {
            guard let number = Self.port(portText) else { return reject("has port \"\(portText.prefix(20))\"; expected 1-65535 in decimal without sign or leading zero") }
            port = number
        } else if let scheme {
            port = scheme == "https" ? 443 : 80
        }
        return .success(ModuleTarget(scheme: scheme, host: host, port: port))
    }

    static func port(_ text: Substring) -> Int? {
        guard (1...5).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), !text.hasPrefix("0"),
              let number = Int(text), (1...65535).contains(number) else { return nil }
        return number
    }

    /// The canonical spelling: `host`, `host:port`, `[v6]:port`, or `scheme://host[:port]`
    /// with the scheme's default port left out.
    public var text: String {
        let defaultPort = scheme.map { $0 == "https" ? 443 : 80 }
        let authority = host.uriForm + (port.map { $0 == defaultPort ? "" : ":\($0)" } ?? "")
        return scheme.map { "\($0)://\(authority)" } ?? authority
    }

    /// A caller's target text made safe to echo in an answer or a log line: userinfo redacted,
    /// control, non-ASCII, `"` and `%` bytes percent-escaped, length capped.
    public static func shown(_ text: String) -> String {
        let redacted = URLUserinfo.redacted(String(text.prefix(maxLength)))
        var out = ""
        for byte in redacted.utf8 {
            if byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "%") {
                out.append(Character(Unicode.Scalar(byte)))
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return text.utf8.count > maxLength ? out + "…" : out
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
