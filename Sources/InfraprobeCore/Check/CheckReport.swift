import FoundationEssentials
import Glibc

/// The report `infraprobe check` prints: per target each component ✅/❌ with latency and
/// reason, the target's health %, and the overall health %.
public enum CheckReport {
    public static func text(_ results: [TargetProbeResult]) -> String {
        var out = "infraprobe check: \(results.count) target(s)\n"
        for result in results {
            out += "\n\(result.target) (\(result.prober)): \(percent(result.healthRatio)) healthy, "
            out += "\(result.passed)/\(result.components.count) components passed\n"
            for component in result.components {
                let mark = component.ok ? "✅" : "❌"
                out += "  \(mark) \(padded(component.component, to: 22))"
                out += CFormat.string("%8.1f ms", component.duration.seconds * 1000)
                if let failure = component.failure {
                    out += "  \(failure.reason.rawValue)\(failure.hop.map { " at hop \($0)" } ?? ""): \(failure.message)"
                }
                out += "\n"
            }
        }
        out += "\nOverall infrastructure health: \(percent(overallRatio(results)))"
        let components = results.reduce(0) { $0 + $1.components.count }
        out += " (\(results.reduce(0) { $0 + $1.passed })/\(components) components passed)\n"
        return out
    }

    public static func json(_ results: [TargetProbeResult]) -> String {
        let targets: [JSONValue] = results.map { result in
            [
                "target": .string(result.target),
                "prober": .string(result.prober),
                "health_ratio": .number(result.healthRatio),
                "success": .bool(result.success),
                "duration_seconds": .number(result.duration.seconds),
                "version": result.version.map(JSONValue.string) ?? .null,
                "components": .array(result.components.map { component -> JSONValue in
                    var entry: [String: JSONValue] = [
                        "component": .string(component.component),
                        "up": .bool(component.ok),
                        "duration_seconds": .number(component.duration.seconds),
                    ]
                    if let failure = component.failure {
                        entry["reason"] = .string(failure.reason.rawValue)
                        entry["message"] = .string(failure.message)
                        if let hop = failure.hop { entry["hop"] = .string(hop) }
                    }
                    return .object(entry)
                }),
            ]
        }
        let document: JSONValue = ["overall_health_ratio": .number(overallRatio(results)), "targets": .array(targets)]
        return document.prettyPrinted + "\n"
    }

    public static func overallRatio(_ results: [TargetProbeResult]) -> Double {
        let components = results.reduce(0) { $0 + $1.components.count }
        return components == 0 ? 0 : Double(results.reduce(0) { $0 + $1.passed }) / Double(components)
    }

    /// `text` cut or space-padded to `width` characters.
    static func padded(_ text: String, to width: Int) -> String {
        text.count >= width ? String(text.prefix(width)) : text + String(repeating: " ", count: width - text.count)
    }

    static func percent(_ ratio: Double) -> String { CFormat.string("%.1f%%", ratio * 100) }
}
