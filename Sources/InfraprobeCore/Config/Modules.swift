import FoundationEssentials

/// A module (DESIGN §7): every setting of a target except the address, so one Prometheus job
/// with service discovery can probe many instances: `/probe?module=M&target=ADDR`.
///
/// Settings may use `{target}` (the canonical address) and `{host}` (its host part); a module that
/// does not set its prober's address key (`address`, `url`, `health_url`) gets `{target}` there.
/// Probers with several endpoints take the host and the module spells out scheme and ports,
/// e.g. `url: http://{host}:3200` and `otlp_url: http://{host}:4318` for Tempo.
public struct ModuleSpec: Sendable {
    public let name: String
    public let kind: String
    public let allowedTargets: [TargetPattern]
    /// Whether targets may be written `http(s)://host:port` (kinds whose address is a URL).
    public let acceptsURLTargets: Bool
    /// The module's settings with secrets replaced by `<secret>`, for `/config`.
    public let redactedSettings: [RedactedSetting]
    let build: @Sendable (_ target: ModuleTarget) throws -> TargetSpec

    /// Whether `allowed_targets` admits this address. Checked before any connection is made.
    public func allows(_ target: ModuleTarget) -> Bool {
        allowedTargets.contains { $0.matches(target) }
    }

    /// The target spec for one address (credentials files are read now, so rotation needs no reload).
    public func target(for target: ModuleTarget) throws -> TargetSpec { try build(target) }

    /// Parses a caller's `target` in the forms this module's kind takes.
    public func parseTarget(_ text: String) -> Result<ModuleTarget, ModuleTarget.Rejection> {
        ModuleTarget.parse(text, allowsScheme: acceptsURLTargets)
    }
}

extension ConfigLoader {
    /// Reads `modules:`; each module is built once with a sample address so mistakes show at load.
    func parseModules(_ node: YAMLNode?, file: String, baseDirectory: URL, defaultTimeout: Duration) throws -> [ModuleSpec] {
        guard let node else { return [] }
        guard case .mapping(let mapping) = node else {
            throw ConfigError(file: file, line: node.mark.line, key: "modules", message: "expected a mapping of module names to settings")
        }
        var modules: [ModuleSpec] = []
        for (key, value) in mapping {
            guard let name = key.string, !name.isEmpty else {
                throw ConfigError(file: file, line: key.mark.line, key: "modules", message: "a module needs a non-empty name")
            }
            modules.append(try makeModule(name: name, node: value, file: file, baseDirectory: baseDirectory, defaultTimeout: defaultTimeout))
        }
        return modules
    }

    private func makeModule(name: String, node: YAMLNode, file: String, baseDirectory: URL, defaultTimeout: Duration) throws -> ModuleSpec {
        let path = "modules.\(name)"
        let probe = try ConfigSection(file: file, path: path, node: node, baseDirectory: baseDirectory)
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
            let section = try ConfigSection(file: file, path: path, node: node, baseDirectory: baseDirectory,
                                            overrides: setsAddress ? [:] : [descriptor.addressKey: target.text],
                                            substitutions: ["{target}": target.text, "{host}": target.host.uriForm])
            _ = try section.stringList("allowed_targets")
            return try makeTarget(name: target.text, section: section, defaultTimeout: defaultTimeout)
        }
        // Validate now with a sample address, so a typo fails the load and not the first scrape.
        let sampleHost = "infraprobe-sample.invalid"
        let sample: TargetSpec
        do {
            sample = try build(ModuleTarget(scheme: nil, host: .name(sampleHost), port: 1))
        } catch {
            sample = try build(ModuleTarget(scheme: nil, host: .name(sampleHost), port: nil))
        }
        let order = { (key: String) in key == "prober" ? 0 : key == "allowed_targets" ? 2 : 1 }
        let settings = sample.redactedSettings
            .sorted { order($0.key) < order($1.key) }
            .filter { $0.key != descriptor.addressKey || setsAddress }
            .map { RedactedSetting(key: $0.key, value: $0.value.replacing(sampleHost + ":1", with: "{target}")
                                                               .replacing(sampleHost, with: "{host}")) }
        return ModuleSpec(name: name, kind: kind, allowedTargets: allowed, acceptsURLTargets: descriptor.addressIsURL,
                          redactedSettings: settings, build: build)
    }
}
