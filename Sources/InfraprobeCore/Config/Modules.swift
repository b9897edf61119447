import Foundation
import Yams

/// A module (DESIGN §7): every setting of a target except the address, so one Prometheus job
/// with service discovery can probe many instances: `/probe?module=M&target=ADDR`.
///
/// Settings may use `{target}` (the address as given) and `{host}` (its host part); a module that
/// does not set its prober's address key (`address`, `url`, `health_url`) gets `{target}` there.
/// Probers with several endpoints take the host and the module spells out scheme and ports,
/// e.g. `url: http://{host}:3200` and `otlp_url: http://{host}:4318` for Tempo.
public struct ModuleSpec: Sendable {
    public let name: String
    public let kind: String
    public let allowedTargets: [TargetPattern]
    /// The module's settings with secrets replaced by `<secret>`, for `/config`.
    public let redactedSettings: [RedactedSetting]
    let build: @Sendable (_ target: ModuleTarget) throws -> TargetSpec

    /// Whether `allowed_targets` admits this address. Checked before any connection is made.
    public func allows(_ target: ModuleTarget) -> Bool {
        allowedTargets.contains { $0.matches(target) }
    }

    /// The target spec for one address (credentials files are read now, so rotation needs no reload).
    public func target(for target: ModuleTarget) throws -> TargetSpec { try build(target) }
}

/// The `target` parameter of a module probe: `host`, `host:port`, `[v6]:port` or an http(s) URL.
public struct ModuleTarget: Sendable, Equatable {
    public let text: String
    public let host: String
    public let port: Int?

    public init?(_ text: String) {
        guard !text.isEmpty, text.utf8.count <= 512, text.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else { return nil }
        var authority = Substring(text)
        var defaultPort: Int?
        if let schemeEnd = text.range(of: "://") {
            let scheme = text[..<schemeEnd.lowerBound].lowercased()
            guard scheme == "http" || scheme == "https" else { return nil }
            defaultPort = scheme == "https" ? 443 : 80
            authority = text[schemeEnd.upperBound...]
            if let slash = authority.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { authority = authority[..<slash] }
            guard !authority.contains("@") else { return nil }
        }
        var host: Substring, portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let rest = authority[authority.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return nil }
                portText = rest.dropFirst()
            }
            guard host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }), host.contains(":") else { return nil }
        } else {
            let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { return nil }
            host = parts[0]
            portText = parts.count == 2 ? parts[1] : nil
            guard host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_" }) else { return nil }
        }
        guard !host.isEmpty else { return nil }
        if let portText {
            guard let port = Int(portText), (1...65535).contains(port) else { return nil }
            self.port = port
        } else {
            self.port = defaultPort
        }
        self.text = text
        self.host = host.lowercased()
    }
}

/// One `allowed_targets` entry: a host glob (`redis-*.internal`) or a CIDR (`10.0.0.0/8`,
/// `[fd00::/8]`), optionally `:port` (a number or `*`). Without a port any port matches.
/// CIDRs match only IP-literal targets: names are never resolved to decide.
public struct TargetPattern: Sendable, CustomStringConvertible {
    enum Host: Sendable {
        case glob(String)
        case cidr(bytes: [UInt8], prefix: Int)
    }

    let host: Host
    let port: String?
    public let description: String

    public init?(_ text: String) {
        description = text
        var hostText = Substring(text), portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            hostText = text[text.index(after: text.startIndex)..<close]
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
            guard portText == "*" || Int(portText).map({ (1...65535).contains($0) }) == true else { return nil }
            port = portText == "*" ? nil : String(portText)
        } else {
            port = nil
        }
        guard !hostText.isEmpty else { return nil }
        if let slash = hostText.firstIndex(of: "/") {
            guard let bytes = Self.ipBytes(String(hostText[..<slash])), let prefix = Int(hostText[hostText.index(after: slash)...]),
                  (0...(bytes.count * 8)).contains(prefix) else { return nil }
            host = .cidr(bytes: bytes, prefix: prefix)
        } else {
            guard hostText.allSatisfy({ $0.isLetter || $0.isNumber || "-._*?:".contains($0) }) else { return nil }
            host = .glob(hostText.lowercased())
        }
    }

    public func matches(_ target: ModuleTarget) -> Bool {
        if let port {
            guard let targetPort = target.port, String(targetPort) == port else { return false }
        }
        switch host {
        case .glob(let pattern):
            return Self.glob(Array(pattern), Array(target.host))
        case .cidr(let network, let prefix):
            guard let address = Self.ipBytes(target.host), address.count == network.count else { return false }
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

    static func ipBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    /// `*` any run of characters, `?` one character.
    static func glob(_ pattern: [Character], _ text: [Character]) -> Bool {
        var p = 0, t = 0, star = -1, mark = 0
        while t < text.count {
            if p < pattern.count && (pattern[p] == "?" || pattern[p] == text[t]) {
                p += 1; t += 1
            } else if p < pattern.count && pattern[p] == "*" {
                star = p; mark = t; p += 1
            } else if star >= 0 {
                p = star + 1; mark += 1; t = mark
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}

/// Yams nodes are immutable values once composed; the box lets a module keep its own.
struct ModuleNode: @unchecked Sendable { let node: Node }

extension ConfigLoader {
    /// Reads `modules:`; each module is built once with a sample address so mistakes show at load.
    func parseModules(_ node: Node?, file: String, baseDirectory: URL, defaultTimeout: Duration) throws -> [ModuleSpec] {
        guard let node else { return [] }
        guard case .mapping(let mapping) = node else {
            throw ConfigError(file: file, line: node.mark?.line, key: "modules", message: "expected a mapping of module names to settings")
        }
        var modules: [ModuleSpec] = []
        for (key, value) in mapping {
            guard let name = key.string, !name.isEmpty else {
                throw ConfigError(file: file, line: key.mark?.line, key: "modules", message: "a module needs a non-empty name")
            }
            modules.append(try makeModule(name: name, node: ModuleNode(node: value), file: file, baseDirectory: baseDirectory, defaultTimeout: defaultTimeout))
        }
        return modules
    }

    private func makeModule(name: String, node: ModuleNode, file: String, baseDirectory: URL, defaultTimeout: Duration) throws -> ModuleSpec {
        let path = "modules.\(name)"
        let probe = try ConfigSection(file: file, path: path, node: node.node, baseDirectory: baseDirectory)
        let kind = try probe.requiredString("prober")
        guard let descriptor = registry.descriptors[kind] else {
            throw probe.error("prober", "unknown prober \"\(kind)\"; known: \(registry.kinds.joined(separator: ", "))")
        }
        guard !descriptor.followsOtherTargets else {
            throw probe.error("prober", "a \(kind) target follows other configured targets and has no address of its own; configure it under targets:")
        }
        guard let patterns = try probe.stringList("allowed_targets"), !patterns.isEmpty else {
            throw probe.error("allowed_targets", "is required: the host:port globs or CIDRs this module may probe (\"*\" for any)")
        }
        var allowed: [TargetPattern] = []
        for text in patterns {
            guard let pattern = TargetPattern(text) else {
                throw probe.error("allowed_targets", "\"\(text)\" is not a host glob or CIDR with an optional :port")
            }
            allowed.append(pattern)
        }
        let setsAddress = probe.has(descriptor.addressKey)
        let build: @Sendable (ModuleTarget) throws -> TargetSpec = { [self] target in
            let section = try ConfigSection(file: file, path: path, node: node.node, baseDirectory: baseDirectory,
                                            overrides: setsAddress ? [:] : [descriptor.addressKey: target.text],
                                            substitutions: ["{target}": target.text, "{host}": target.host.contains(":") ? "[\(target.host)]" : target.host])
            _ = try section.stringList("allowed_targets")
            return try makeTarget(name: target.text, section: section, defaultTimeout: defaultTimeout)
        }
        // Validate now with a sample address, so a typo fails the load and not the first scrape.
        let sampleHost = "infraprobe-sample.invalid"
        let sample: TargetSpec
        do {
            sample = try build(ModuleTarget(sampleHost + ":1")!)
        } catch {
            sample = try build(ModuleTarget(sampleHost)!)
        }
        let order = { (key: String) in key == "prober" ? 0 : key == "allowed_targets" ? 2 : 1 }
        let settings = sample.redactedSettings
            .sorted { order($0.key) < order($1.key) }
            .filter { $0.key != descriptor.addressKey || setsAddress }
            .map { RedactedSetting(key: $0.key, value: $0.value.replacingOccurrences(of: sampleHost + ":1", with: "{target}")
                                                               .replacingOccurrences(of: sampleHost, with: "{host}")) }
        return ModuleSpec(name: name, kind: kind, allowedTargets: allowed, redactedSettings: settings, build: build)
    }
}
