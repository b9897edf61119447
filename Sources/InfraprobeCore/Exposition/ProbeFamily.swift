/// The fixed metric families of `/probe` (DESIGN §5): name, help, type and unit in one place for
/// both the MetricFamily path (`ProbeMetrics`) and the direct one (`ProbeExposition`), with the
/// header lines and sample-name bytes the direct one writes, prepared once.
enum ProbeFamily: Int, CaseIterable, Sendable {
    case up, duration, lastRun, runInterval, latency, failure, healthRatio, components, componentsUp, success, probeDuration,
         probeTimestamp, reused, serviceInfo, overallHealth

    var name: String {
        switch self {
        case .up: "infraprobe_component_up"
        case .duration: "infraprobe_component_duration_seconds"
        case .lastRun: "infraprobe_component_last_run_timestamp_seconds"
        case .runInterval: "infraprobe_component_run_interval_seconds"
        case .latency: "infraprobe_component_latency_seconds"
        case .failure: "infraprobe_component_failure_info"
        case .healthRatio: "infraprobe_target_health_ratio"
        case .components: "infraprobe_target_components"
        case .componentsUp: "infraprobe_target_components_up"
        case .success: "probe_success"
        case .probeDuration: "probe_duration_seconds"
        case .probeTimestamp: "infraprobe_probe_timestamp_seconds"
        case .reused: "infraprobe_probe_reused"
        case .serviceInfo: "infraprobe_service_info"
        case .overallHealth: "infraprobe_overall_health_ratio"
        }
    }

    var help: String {
        switch self {
        case .up: "1 if the component check passed, 0 if it failed."
        case .duration: "Wall time of the component check."
        case .lastRun:
            "When the component's check last ran, in seconds since the Unix epoch; older than this probe when its result was served from the component's cadence cache."
        case .runInterval: "How often the component's check runs at the latest (its cadence, `every`); 0 if it runs on every scrape."
        case .latency: "Wall time of the component check, as a histogram whose exemplar carries the probe's trace id."
        case .failure: "1 for each failed component, labelled with why it failed."
        case .healthRatio: "Passed components / configured components of the target."
        case .components: "Number of components probed on the target."
        case .componentsUp: "Number of components of the target that passed."
        case .success: "1 if every component of the target passed (blackbox_exporter compatible)."
        case .probeDuration: "How long the probe of the target took."
        case .probeTimestamp: "When the probe this answer comes from started, in seconds since the Unix epoch."
        case .reused: "1 if this answer is an earlier probe served again within the target's min_interval, 0 if it was probed for this scrape."
        case .serviceInfo: "1, labelled with the version the service reports."
        case .overallHealth: "Passed components / all components over every configured target."
        }
    }

    var kind: MetricFamily.Kind { self == .latency ? .histogram : .gauge }

    var unit: String? {
        switch self {
        case .duration, .lastRun, .runInterval, .latency, .probeDuration, .probeTimestamp: "seconds"
        case .healthRatio, .overallHealth: "ratio"
        case .up, .failure, .components, .componentsUp, .success, .reused, .serviceInfo: nil
        }
    }

    /// An empty family of this name, help, type and unit.
    var emptyFamily: MetricFamily { MetricFamily(name: name, help: help, kind: kind, unit: unit) }

    /// In the writer's family order (by name).
    static let sorted: [ProbeFamily] = allCases.sorted { $0.name < $1.name }
    static let names: Set<String> = Set(allCases.map(\.name))

    private static let nameTable: [[UInt8]] = allCases.map { Array($0.name.utf8) }
    private static let textHeaders: [[UInt8]] = allCases.map { $0.header(.text004) }
    private static let openMetricsHeaders: [[UInt8]] = allCases.map { $0.header(.openMetrics100) }

    var nameBytes: [UInt8] { Self.nameTable[rawValue] }
    var textHeader: [UInt8] { Self.textHeaders[rawValue] }
    var openMetricsHeader: [UInt8] { Self.openMetricsHeaders[rawValue] }

    private func header(_ format: ExpositionFormat) -> [UInt8] {
        var out: [UInt8] = []
        ExpositionWriter.writeHeader(name: name, help: help, kind: kind, unit: unit, format: format, into: &out)
        return out
    }

    static let latencyBucketName = Array("infraprobe_component_latency_seconds_bucket".utf8)
    static let latencyCountName = Array("infraprobe_component_latency_seconds_count".utf8)
    static let latencySumName = Array("infraprobe_component_latency_seconds_sum".utf8)
    /// `,le="0.005"} ` … `,le="+Inf"} `, the end of each bucket line's label set, back to back;
    /// bucket `i`'s is `latencyBucketEnds[latencyBucketEndOffsets[i]..<latencyBucketEndOffsets[i + 1]]`.
    static let latencyBucketEnds: [UInt8] = bucketEnds.flatMap { $0 }
    static let latencyBucketEndOffsets: [Int] = bucketEnds.reduce(into: [0]) { $0.append($0.last! + $1.count) }
    private static let bucketEnds: [[UInt8]] = (ProbeMetrics.componentBuckets.map(ExpositionWriter.formatValue) + ["+Inf"])
        .map { Array(",le=\"\($0)\"} ".utf8) }
}
