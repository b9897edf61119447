import FoundationEssentials

/// A YAML mapping being read into typed settings. It remembers which keys were read, so
/// unknown keys (typos) are reported with their line, and records a redacted rendering of
/// every value for `/config`.
public final class ConfigSection {
    public let file: String
    public let path: String
    let node: YAMLNode
    private let mapping: YAMLNode.Mapping
    private let baseDirectory: URL
    private var consumed: Set<String> = []
    private var overrides: [String: String]
    /// Placeholders such as `{target}` replaced in every value (module probes).
    private let substitutions: [String: String]
    public private(set) var rendered: [(key: String, value: String)] = []

    init(file: String, path: String, node: YAMLNode, baseDirectory: URL, overrides: [String: String] = [:],
         substitutions: [String: String] = [:]) throws {
        self.file = file
        self.path = path
        self.node = node
        self.baseDirectory = baseDirectory
        self.overrides = overrides
        self.substitutions = substitutions
        guard case .mapping(let mapping) = node else {
            throw ConfigError(file: file, line: node.mark.line, key: path, message: "expected a mapping")
        }
        self.mapping = mapping
    }

    public var line: Int? { node.mark.line }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: valueNode(key)?.mark.line ?? line, key: keyPath(key), message: message)
    }

    func valueNode(_ key: String) -> YAMLNode? {
        mapping.first { $0.key.string == key }?.value
    }

    public func has(_ key: String) -> Bool { overrides[key] != nil || valueNode(key) != nil }

    /// One pass over the configured text: what a placeholder is replaced with is never scanned
    /// again, so a value cannot smuggle in another placeholder.
    private func substitute(_ value: String) -> String { Self.substitute(value, substitutions) }

    static func substitute(_ value: String, _ substitutions: [String: String]) -> String {
        guard !substitutions.isEmpty, value.contains("{") else { return value }
        var out = "", rest = Substring(value)
        while let open = rest.firstIndex(of: "{") {
            out += rest[..<open]
            rest = rest[open...]
            if let (placeholder, replacement) = substitutions.first(where: { rest.hasPrefix($0.key) }) {
                out += replacement
                rest = rest.dropFirst(placeholder.count)
            } else {
                out.append("{")
                rest = rest.dropFirst()
            }
        }
        return out + rest
    }

    private func scalar(_ key: String) throws -> String? {
        try rawScalar(key).map(substitute)
    }

    private func rawScalar(_ key: String) throws -> String? {
        consumed.insert(key)
        if let override = overrides[key] { return override }
        guard let value = valueNode(key) else { return nil }
        if case .scalar(let scalar) = value {
            // `Null` and `NULL` are YAML nulls too, but read as text here, as they always have been.
            if scalar.isNull && (scalar.string.isEmpty || scalar.string == "~" || scalar.string == "null") {
                return nil
            }
            return scalar.string
        }
        throw error(key, "expected a single value")
    }

    func record(_ key: String, _ display: String?) {
        if let display { rendered.append((key, display.contains("://") ? URLUserinfo.redacted(display) : display)) }
    }

    public func string(_ key: String) throws -> String? {
        let value = try scalar(key)
        record(key, value)
        return value
    }

    public func requiredString(_ key: String) throws -> String {
        guard let value = try string(key), !value.isEmpty else { throw missing(key) }
        return value
    }

    /// "is required", pointing at a present key that looks like a misspelling of it.
    public func missing(_ key: String) -> ConfigError {
        let typo = mapping.first { entry in
            guard let name = entry.key.string, !consumed.contains(name) else { return false }
            return Self.editDistance(name, key) <= 2
        }
        guard let typo, let name = typo.key.string else { return error(key, "is required") }
        return ConfigError(file: file, line: typo.key.mark.line, key: keyPath(name),
                           message: "unknown key; did you mean \"\(key)\" (which is required)?")
    }

    /// Levenshtein distance, for spotting misspelt keys.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    public func int(_ key: String, range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let text = try scalar(key) else { return nil }
        guard let value = Int(text) else { throw error(key, "expected an integer, got \"\(text)\"") }
        if let range, !range.contains(value) {
            throw error(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
        record(key, text)
        return value
    }

    public func double(_ key: String, range: ClosedRange<Double>? = nil) throws -> Double? {
        guard let text = try scalar(key) else { return nil }
        guard let value = Double(text), value.isFinite else { throw error(key, "expected a number, got \"\(text)\"") }
        if let range, !range.contains(value) {
            throw error(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(text)")
        }
        record(key, text)
        return value
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let text = try scalar(key) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": record(key, "true"); return true
        case "false", "no", "off": record(key, "false"); return false
        default: throw error(key, "expected true or false, got \"\(text)\"")
        }
    }

    /// Timeouts and intervals: longer than an hour is a typo (`10h` for `10s`), not a setting.
    public static let durationRange: ClosedRange<Duration> = .milliseconds(1)...(.seconds(3600))

    public func duration(_ key: String, range: ClosedRange<Duration> = ConfigSection.durationRange) throws -> Duration? {
        guard let text = try scalar(key) else { return nil }
        let value: Duration
        let outOfRange = error(key, "must be between \(DurationParser.format(range.lowerBound)) and \(DurationParser.format(range.upperBound)), got \"\(String(text.prefix(60)))\"")
        switch DurationParser.parseChecked(text) {
        case .success(let parsed) where parsed > .zero: value = parsed
        // Too large to convert at all: the same range error as any other value above the range.
        case .failure(.outOfRange): throw outOfRange
        default:
            throw error(key, "expected a duration such as 10s or 500ms, got \"\(text)\"")
        }
        guard range.contains(value) else { throw outOfRange }
        record(key, text)
        return value
    }

    public func stringList(_ key: String) throws -> [String]? {
        consumed.insert(key)
        guard let value = valueNode(key) else { return nil }
        guard case .sequence(let sequence) = value else { throw error(key, "expected a list") }
        var items: [String] = []
        for item in sequence {
            guard case .scalar(let scalar) = item else {
                throw ConfigError(file: file, line: item.mark.line, key: keyPath(key), message: "expected a list of strings")
            }
            items.append(substitute(scalar.string))
        }
        record(key, "[" + items.joined(separator: ", ") + "]")
        return items
    }

    /// Reads `key` or `key_file` (never both). A file's trailing newline is dropped.
    public func secret(_ key: String) throws -> Secret? {
        let fileKey = key + "_file"
        let inline = try scalar(key)
        let path = try scalar(fileKey)
        switch (inline, path) {
        case (.some, .some):
            throw error(fileKey, "set either \(key) or \(fileKey), not both")
        case (.some(let value), nil):
            record(key, Secret.placeholder)
            return Secret(value)
        case (nil, .some(let path)):
            var text: String
            do {
                text = try RegularFileReader.readText(resolvePath(path), limit: RegularFileReader.secretLimit)
            } catch {
                throw self.error(fileKey, "cannot read secret file \(path): \(error)")
            }
            while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
            record(fileKey, path)
            return Secret(text)
        case (nil, nil):
            return nil
        }
    }

    /// Fails unless `key`, if set, names a regular file of at most `limit` bytes that can be read.
    public func checkReadableFile(_ key: String, limit: Int) throws {
        guard let path = try scalar(key) else { return }
        do {
            _ = try RegularFileReader.read(resolvePath(path), limit: limit)
        } catch {
            throw self.error(key, "cannot read \(path): \(error)")
        }
    }

    /// A nested mapping, e.g. `tls:`.
    public func section(_ key: String) throws -> ConfigSection? {
        consumed.insert(key)
        guard let value = valueNode(key) else { return nil }
        return try ConfigSection(file: file, path: keyPath(key), node: value, baseDirectory: baseDirectory, substitutions: substitutions)
    }

    /// Relative paths in the config are relative to the config file's directory.
    public func resolvePath(_ path: String) -> String {
        path.hasPrefix("/") ? path : baseDirectory.appendingPathComponent(path).path
    }

    /// Marks a key the caller reads by hand (through `valueNode`) as known.
    func markRead(_ key: String) { consumed.insert(key) }

    /// Fails on keys nobody asked for: almost always a typo.
    public func rejectUnknownKeys(message: String = "unknown key") throws {
        for (key, _) in mapping {
            guard let name = key.string else { continue }
            if !consumed.contains(name) {
                throw ConfigError(file: file, line: key.mark.line, key: keyPath(name), message: message)
            }
        }
    }
}
