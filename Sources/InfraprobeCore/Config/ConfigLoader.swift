import FoundationEssentials

/// Reads and validates the YAML configuration (DESIGN §7). Every error names file, line and key.
public struct ConfigLoader: Sendable {
    public let registry: ProberRegistry
    public let environment: ProberEnvironment

    public init(registry: ProberRegistry = .standard, environment: ProberEnvironment) {
        self.registry = registry
        self.environment = environment
    }

    public func load(file: String) throws -> InfraprobeConfig {
        let text: String
        do {
            text = try RegularFileReader.readText(file, limit: RegularFileReader.configLimit)
        } catch {
            throw ConfigError(file: file, line: nil, key: "", message: "cannot read the config file: \(error)")
        }
        let directory = URL(fileURLWithPath: file).deletingLastPathComponent()
        return try parse(yaml: text, file: file, baseDirectory: directory)
    }

    public func parse(yaml: String, file: String, baseDirectory: URL) throws -> InfraprobeConfig {
        let root = try Self.compose(yaml: yaml, file: file)
        let top = try ConfigSection(file: file, path: "", node: root, baseDirectory: baseDirectory)
        let timeout = try top.duration("timeout") ?? InfraprobeConfig.defaultTimeout

        var targets: [TargetSpec] = []
        if let targetsNode = top.valueNode("targets") {
            guard case .mapping(let mapping) = targetsNode else {
                throw top.error("targets", "expected a mapping of target names to settings")
            }
            for (key, value) in mapping {
                guard let name = key.string, !name.isEmpty else {
                    throw ConfigError(file: file, line: key.mark.line, key: "targets", message: "a target needs a non-empty name")
                }
                let section = try ConfigSection(file: file, path: "targets.\(name)", node: value, baseDirectory: baseDirectory)
                targets.append(try makeTarget(name: name, section: section, defaultTimeout: timeout))
            }
        }
        top.markRead("targets")
        let modules = try parseModules(top.valueNode("modules"), file: file, baseDirectory: baseDirectory, defaultTimeout: timeout)
        top.markRead("modules")
        try top.rejectUnknownKeys()
        return InfraprobeConfig(file: file, timeout: timeout, targets: try targets.resolvingTargetReferences(), modules: modules)
    }

    func makeTarget(name: String, section: ConfigSection, defaultTimeout: Duration) throws -> TargetSpec {
        let kind = try section.requiredString("prober")
        guard let descriptor = registry.descriptors[kind] else {
            throw section.error("prober", "unknown prober \"\(kind)\"; known: \(registry.kinds.joined(separator: ", "))")
        }
        let timeout = try section.duration("timeout") ?? defaultTimeout
        let selection = try section.componentSelection(descriptor)
        let minInterval = try section.duration("min_interval")
        let prober = try descriptor.make(section, environment)
        try section.rejectUnknownKeys()
        return TargetSpec(name: name, kind: kind, timeout: timeout, components: selection.enabled, prober: prober,
                          redactedSettings: section.rendered.map { RedactedSetting(key: $0.key, value: $0.value) },
                          every: selection.every, minInterval: minInterval)
    }

    /// The document's root, an empty mapping for an empty document, after its shape is checked.
    static func compose(yaml: String, file: String) throws(ConfigError) -> YAMLNode {
        guard yaml.utf8.count <= RegularFileReader.configLimit else {
            throw ConfigError(file: file, line: nil, key: "", message: "cannot read the config: it is larger than 1 MiB")
        }
        return try YAMLComposer.compose(yaml, file: file)
            ?? .mapping(YAMLNode.Mapping(pairs: [], tag: nil, mark: YAMLNode.Mark(line: 1, column: 1)))
    }
}
