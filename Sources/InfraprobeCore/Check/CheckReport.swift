import Foundation

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
                out += "  \(mark) \(component.component.padding(toLength: 22, withPad: " ", startingAt: 0))"
                out += String(format: "%8.1f ms", component.duration.seconds * 1000)
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
        let targets: [[String: Any]] = results.map { result in
            [
                "target": result.target,
                "prober": result.prober,
                "health_ratio": result.healthRatio,
                "success": result.success,
                "duration_seconds": result.duration.seconds,
                "version": result.version ?? NSNull(),
                "components": result.components.map { component -> [String: Any] in
                    var entry: [String: Any] = [
                        "component": component.component,
                        "up": component.ok,
                        "duration_seconds": component.duration.seconds,
                    ]
                    if let failure = component.failure {
                        entry["reason"] = failure.reason.rawValue
                        entry["message"] = failure.message
                        if let hop = failure.hop { entry["hop"] = hop }
                    }
                    return entry
                },
            ]
        }
        let document: [String: Any] = ["overall_health_ratio": overallRatio(results), "targets": targets]
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    public static func overallRatio(_ results: [TargetProbeResult]) -> Double {
        let components = results.reduce(0) { $0 + $1.components.count }
        return components == 0 ? 0 : Double(results.reduce(0) { $0 + $1.passed }) / Double(components)
    }

    static func percent(_ ratio: Double) -> String { String(format: "%.1f%%", ratio * 100) }
}
