/// A setting that names another configured target (a pipeline's `collector: otel`). Parsed with
/// the rest of the target, resolved after every target is parsed (so order in the file does not
/// matter); a missing or wrong-kind target is a config error at the setting's file, line and key.
public struct TargetReference: Sendable, Equatable {
    public let key: String
    public let name: String
    /// Prober kinds the referenced target may have.
    public let kinds: [String]
    /// Where the setting is, for errors.
    let location: ConfigError

    public func resolve(in targets: [String: TargetSpec]) throws -> TargetSpec {
        guard let target = targets[name] else {
            let known = targets.values.filter { kinds.contains($0.kind) }.map(\.name).sorted()
            throw failure("no target named \"\(name)\"" + (known.isEmpty
                ? "; no \(kinds.joined(separator: "/")) target is configured"
                : "; \(kinds.joined(separator: "/")) targets: \(known.joined(separator: ", "))"))
        }
        guard kinds.contains(target.kind) else {
            throw failure("target \"\(name)\" is a \(target.kind) target, expected \(kinds.joined(separator: " or "))")
        }
        return target
    }

    func failure(_ message: String) -> ConfigError {
        ConfigError(file: location.file, line: location.line, key: location.key, message: message)
    }
}

extension ConfigSection {
    /// Reads `key` as the name of another target of one of `kinds`, to be resolved later.
    public func targetReference(_ key: String, kinds: [String]) throws -> TargetReference? {
        guard let name = try string(key), !name.isEmpty else { return nil }
        return TargetReference(key: key, name: name, kinds: kinds, location: error(key, ""))
    }
}

/// A prober that names other targets and uses their endpoints and credentials. The config
/// loader calls `resolvingReferences` once every target of the file is known.
public protocol ReferencesTargets: Prober {
    func resolvingReferences(_ targets: [String: TargetSpec]) throws -> any Prober
}

extension TargetSpec {
    func replacingProber(_ prober: any Prober) -> TargetSpec {
        TargetSpec(name: name, kind: kind, timeout: timeout, components: components, prober: prober, redactedSettings: redactedSettings)
    }
}

extension [TargetSpec] {
    /// The second config pass: probers that reference other targets get them resolved.
    func resolvingTargetReferences() throws -> [TargetSpec] {
        let byName = Dictionary(map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        return try map { target in
            guard let referencing = target.prober as? any ReferencesTargets else { return target }
            return target.replacingProber(try referencing.resolvingReferences(byName))
        }
    }
}
