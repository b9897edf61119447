/// One configured target, ready to probe.
public struct TargetSpec: Sendable {
    public let name: String
    public let kind: String
    public let timeout: Duration
    /// Enabled components, in the prober's report order.
    public let components: [String]
    public let prober: any Prober
    /// Every configured setting with secrets replaced by `<secret>`, for `/config` and debug output.
    public let redactedSettings: [RedactedSetting]
    /// How often each component runs, for those that run less often than every scrape
    /// (the prober's defaults, then `components: {NAME: {every: …}}`); absent: every scrape.
    public let every: [String: Duration]
    /// A result younger than this is served to any scrape instead of probing again; nil: off.
    public let minInterval: Duration?

    public init(name: String, kind: String, timeout: Duration, components: [String],
                prober: any Prober, redactedSettings: [RedactedSetting], every: [String: Duration] = [:],
                minInterval: Duration? = nil) {
        self.name = name
        self.kind = kind
        self.timeout = timeout
        self.components = components
        self.prober = prober
        self.redactedSettings = redactedSettings
        self.every = every.filter { $0.value > .zero }
        self.minInterval = minInterval
    }

    /// Equal for two specs that probe the same way (secrets' values aside, which are redacted):
    /// a reload that changes it drops the target's cached results.
    public var fingerprint: String {
        let cadence = every.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return ([kind, "\(timeout)", components.joined(separator: ","), cadence.joined(separator: ","), "\(minInterval.map { "\($0)" } ?? "-")"]
                + redactedSettings.map { "\($0.key)=\($0.value)" }).joined(separator: "\u{0}")
    }
}

public struct RedactedSetting: Sendable, Equatable {
    public let key: String
    public let value: String
}

/// The whole validated configuration.
public struct InfraprobeConfig: Sendable {
    public static let defaultTimeout: Duration = .seconds(10)

    public let file: String
    public let timeout: Duration
    public let targets: [TargetSpec]
    /// `modules:` for `/probe?module=M&target=ADDR`.
    public let modules: [ModuleSpec]
    /// Position of each target by name (the first, if a name repeats): every `/probe?target=` looks one up.
    private let targetPositions: [String: Int]

    public init(file: String, timeout: Duration, targets: [TargetSpec], modules: [ModuleSpec] = []) {
        self.file = file
        self.timeout = timeout
        self.targets = targets
        self.modules = modules
        targetPositions = Dictionary(targets.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func module(named name: String) -> ModuleSpec? {
        modules.first { $0.name == name }
    }

    public func target(named name: String) -> TargetSpec? {
        targetPositions[name].map { targets[$0] }
    }

    /// The effective configuration as YAML, secrets replaced by `<secret>`.
    public func redactedYAML() -> String {
        var lines = ["timeout: \(DurationParser.format(timeout))", "targets:"]
        for target in targets {
            lines.append("  \(yamlQuoted(target.name)):")
            lines.append("    prober: \(target.kind)")
            lines.append("    timeout: \(DurationParser.format(target.timeout))")
            lines.append("    components: [\(target.components.joined(separator: ", "))]")
            if !target.every.isEmpty {
                let cadence = target.every.sorted { $0.key < $1.key }.map { "\($0.key) every \(DurationParser.format($0.value))" }
                lines.append("    # cadence: \(cadence.joined(separator: ", ")); the rest every scrape")
            }
            for setting in target.redactedSettings where !["prober", "timeout", "components"].contains(setting.key) {
                lines.append("    \(setting.key): \(yamlQuoted(setting.value))")
            }
        }
        if !modules.isEmpty {
            lines.append("modules:")
            for module in modules {
                lines.append("  \(yamlQuoted(module.name)):")
                for setting in module.redactedSettings {
                    switch setting.key {
                    case "allowed_targets":
                        lines.append("    allowed_targets: [" + module.allowedTargets.map { "\"\($0.description)\"" }.joined(separator: ", ") + "]")
                    case "components":
                        lines.append("    components: \(setting.value)")
                    default:
                        lines.append("    \(setting.key): \(yamlQuoted(setting.value))")
                    }
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

func yamlQuoted(_ value: String) -> String {
    let plain = value.allSatisfy { $0.isLetter || $0.isNumber || "-_./:@<>[], ".contains($0) }
        && !value.isEmpty && !value.hasPrefix(" ") && !value.hasPrefix("[") && !value.hasPrefix("<")
        && !value.contains(": ")
    if plain { return value }
    let escaped = value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n")
    return "\"\(escaped)\""
}
