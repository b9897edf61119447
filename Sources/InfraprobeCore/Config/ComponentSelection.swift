/// `components:` of a target or module: which components run, and how often.
///
///     components: [service_running, kv_store]                        # a subset, default cadence
///     components: {service_running: , database_operations: {every: 10m}}   # a subset with cadence
///
/// `every: 0s` runs the component on every scrape, overriding a prober default.
struct ComponentSelection {
    let enabled: [String]
    /// Effective cadence per enabled component (defaults, then the config); zero: every scrape.
    let every: [String: Duration]

    /// Longer than a day is a typo (`10h` for `10m`), and a result that old answers nothing.
    static let everyRange: ClosedRange<Duration> = .zero...(.seconds(86_400))
}

extension ConfigSection {
    func componentSelection(_ descriptor: ProberDescriptor) throws -> ComponentSelection {
        let known = descriptor.componentNames
        let key = keyPath("components")
        func unknown(_ name: String, line: Int?) -> ConfigError {
            ConfigError(file: file, line: line, key: key,
                        message: "unknown component \"\(name)\" for prober \(descriptor.kind); known: \(known.joined(separator: ", "))")
        }
        markRead("components")
        var configured: [String: Duration] = [:]
        let subset: [String]
        switch valueNode("components") {
        case nil:
            subset = known
        case .scalar(let scalar)? where scalar.isNull:
            subset = known
        case .sequence(let sequence)?:
            var names: [String] = []
            for item in sequence {
                guard case .scalar(let scalar) = item else {
                    throw ConfigError(file: file, line: item.mark.line, key: key, message: "expected a list of strings")
                }
                guard known.contains(scalar.string) else { throw unknown(scalar.string, line: item.mark.line) }
                names.append(scalar.string)
            }
            guard !names.isEmpty else { throw error("components", "must name at least one component") }
            subset = names
            record("components", "[" + names.joined(separator: ", ") + "]")
        case .mapping(let mapping)?:
            var names: [String] = []
            var shown: [String] = []
            for (nameNode, settings) in mapping {
                guard let name = nameNode.string, known.contains(name) else { throw unknown(nameNode.string ?? "", line: nameNode.mark.line) }
                names.append(name)
                if let every = try everySetting(settings, component: name) {
                    configured[name] = every
                    shown.append("\(name): {every: \(DurationParser.format(every))}")
                } else {
                    shown.append("\(name): {}")
                }
            }
            guard !names.isEmpty else { throw error("components", "must name at least one component") }
            subset = names
            record("components", "{" + shown.joined(separator: ", ") + "}")
        default:
            throw error("components", "expected a list of component names, or a mapping of names to {every: DURATION}")
        }
        let enabled = known.filter(subset.contains)
        var every: [String: Duration] = [:]
        for name in enabled {
            if let duration = configured[name] ?? descriptor.defaultEvery[name] { every[name] = duration }
        }
        return ComponentSelection(enabled: enabled, every: every)
    }

    /// `null`, `{}` or `{every: DURATION}` for one component.
    private func everySetting(_ node: YAMLNode, component: String) throws -> Duration? {
        let key = keyPath("components.\(component)")
        switch node {
        case .scalar(let scalar) where scalar.isNull:
            return nil
        case .mapping(let mapping):
            var every: Duration?
            for (settingNode, value) in mapping {
                guard settingNode.string == "every" else {
                    throw ConfigError(file: file, line: settingNode.mark.line, key: "\(key).\(settingNode.string ?? "")",
                                      message: "unknown key; a component takes only every")
                }
                let range = ComponentSelection.everyRange
                let outOfRange = ConfigError(file: file, line: value.mark.line, key: "\(key).every",
                                             message: "must be between 0s (every scrape) and \(DurationParser.format(range.upperBound)), got \"\(String((value.string ?? "").prefix(60)))\"")
                guard case .scalar(let scalar) = value else {
                    throw ConfigError(file: file, line: value.mark.line, key: "\(key).every", message: "expected a duration such as 5m")
                }
                let text = scalar.string.trimmingWhitespace()
                switch DurationParser.parseChecked(text) {
                case .success(let parsed) where range.contains(parsed): every = parsed
                case .success, .failure(.outOfRange): throw outOfRange
                case .failure(.malformed):
                    throw text.hasPrefix("-") ? outOfRange
                        : ConfigError(file: file, line: value.mark.line, key: "\(key).every", message: "expected a duration such as 5m or 30s, got \"\(String(text.prefix(60)))\"")
                }
            }
            // `{every: 0s}` says "every scrape", overriding a default: kept as an explicit zero.
            return every
        default:
            throw ConfigError(file: file, line: node.mark.line, key: key, message: "expected {every: DURATION}, {} or nothing")
        }
    }
}
