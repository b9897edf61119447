/// Reads `--name value`, `--name=value`, `--switch`, `--no-switch` and `-h`/`--help` against a
/// list of `FlagSpec`s. No reflection and no registry: a few microseconds, where ArgumentParser's
/// type metadata lookups were about a quarter of the exporter's startup CPU (issue 13).
public enum FlagParser {
    public enum Outcome: Sendable, Equatable {
        case flags(ParsedFlags)
        case help
        case version
    }

    public static func parse(_ arguments: ArraySlice<String>, flags specs: [FlagSpec], command: String) throws(UsageError) -> Outcome {
        var parsed = ParsedFlags()
        var rest = arguments
        while let argument = rest.popFirst() {
            if argument == "-h" || argument == "--help" { return .help }
            if argument == "--version" { return .version }
            guard argument.hasPrefix("--"), argument.count > 2 else {
                if argument.hasPrefix("-"), argument.count > 1, argument != "--" {
                    throw UsageError("unknown flag \(ParsedFlags.shown(argument))", command: command)
                }
                throw UsageError("unexpected argument \"\(ParsedFlags.shown(argument))\"", command: command)
            }
            let body = argument.dropFirst(2)
            let name = String(body.prefix { $0 != "=" })
            let inlineValue = body.firstIndex(of: "=").map { String(body[body.index(after: $0)...]) }
            if let spec = specs.first(where: { $0.name == name }) {
                switch spec.kind {
                case .boolean:
                    guard let inlineValue else { parsed.values[name] = ["true"]; continue }
                    guard inlineValue == "true" || inlineValue == "false" else {
                        throw UsageError("--\(name) takes no value (or =true, =false), not \"\(ParsedFlags.shown(inlineValue))\"", command: command)
                    }
                    parsed.values[name] = [inlineValue]
                case .value, .repeated:
                    guard let value = inlineValue ?? rest.popFirst() else {
                        throw UsageError("--\(name) needs a value", command: command)
                    }
                    parsed.values[name, default: []].append(value)
                }
            } else if name.hasPrefix("no-"), inlineValue == nil,
                      let spec = specs.first(where: { $0.name == name.dropFirst(3) && $0.kind == .boolean }) {
                parsed.values[spec.name] = ["false"]
            } else {
                throw UsageError("unknown flag --\(ParsedFlags.shown(name))", command: command)
            }
        }
        return .flags(parsed)
    }
}
