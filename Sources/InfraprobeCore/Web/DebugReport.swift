import FoundationEssentials
import Glibc

/// Plain-text account of one probe: each component's steps and result, the metrics it
/// produced and the target's settings (secrets redacted). Served for `debug=true` and `/logs`.
public enum DebugReport {
    public static func render(_ record: ProbeRecord) -> String {
        let result = record.result
        var out = "Probe #\(record.id) of target \"\(result.target)\" (prober \(result.prober)"
        if let module = record.module { out += ", module \(module)" }
        out += ")\n"
        out += "Started at \(ISO8601Timestamp.string(fromUnixSeconds: result.startedAt)), "
        out += CFormat.string("took %.3fs, %ld/%ld components passed\n", result.duration.seconds, result.passed, result.components.count)
        if let traceID = result.traceID { out += "Trace \(traceID)\n" }
        if result.reused { out += "Reused: an earlier probe served again within the target's min_interval\n" }
        for component in result.components {
            let status = component.ok ? "PASS" : "FAIL"
            out += "\n== \(component.component): \(status) in \(CFormat.string("%.3fs", component.duration.seconds))"
            if component.servedFromCache {
                out += CFormat.string(" (last result, ran %.0fs before this probe)", max(0, result.startedAt - component.lastRunAt))
            }
            if let failure = component.failure {
                out += " reason=\(failure.reason.rawValue)"
                if let hop = failure.hop { out += " hop=\(hop)" }
                out += "\n   \(failure.message)"
            }
            out += "\n"
            for step in component.steps {
                out += CFormat.string("   +%.4fs ", step.offset.seconds) + step.text + "\n"
            }
        }
        out += "\nMetrics:\n"
        out += ExpositionWriter.write(ProbeMetrics.families(for: [result], includeOverall: false), format: .text004)
        out += record.module == nil ? "\nTarget configuration:\n" : "\nModule configuration (for this target):\n"
        for setting in record.settings { out += "  \(setting.key): \(setting.value)\n" }
        return out
    }
}
