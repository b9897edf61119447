/// Turns probe results into the `/probe` metric families of DESIGN §5.
public enum ProbeMetrics {
    public static let componentBuckets = SelfMetrics.durationBuckets

    public static func families(for results: [TargetProbeResult], includeOverall: Bool) -> [MetricFamily] {
        var up = MetricFamily(name: "infraprobe_component_up", help: "1 if the component check passed, 0 if it failed.", kind: .gauge)
        var duration = MetricFamily(name: "infraprobe_component_duration_seconds", help: "Wall time of the component check.", kind: .gauge, unit: "seconds")
        // This scrape's one observation per component, so that its exemplar (the probe's trace)
        // links a slow or failing component to its trace; aggregate with rate() across scrapes.
        var histogram = MetricFamily(name: "infraprobe_component_latency_seconds",
                                     help: "Wall time of the component check, as a histogram whose exemplar carries the probe's trace id.",
                                     kind: .histogram, unit: "seconds")
        var failure = MetricFamily(name: "infraprobe_component_failure_info", help: "1 for each failed component, labelled with why it failed.", kind: .gauge)
        var ratio = MetricFamily(name: "infraprobe_target_health_ratio", help: "Passed components / configured components of the target.", kind: .gauge, unit: "ratio")
        var total = MetricFamily(name: "infraprobe_target_components", help: "Number of components probed on the target.", kind: .gauge)
        var passed = MetricFamily(name: "infraprobe_target_components_up", help: "Number of components of the target that passed.", kind: .gauge)
        var success = MetricFamily(name: "probe_success", help: "1 if every component of the target passed (blackbox_exporter compatible).", kind: .gauge)
        var probeDuration = MetricFamily(name: "probe_duration_seconds", help: "How long the probe of the target took.", kind: .gauge, unit: "seconds")
        var lastRun = MetricFamily(name: "infraprobe_component_last_run_timestamp_seconds",
                                   help: "When the component's check last ran, in seconds since the Unix epoch; older than this probe when its result was served from the component's cadence cache.",
                                   kind: .gauge, unit: "seconds")
        var runInterval = MetricFamily(name: "infraprobe_component_run_interval_seconds",
                                       help: "How often the component's check runs at the latest (its cadence, `every`); 0 if it runs on every scrape.",
                                       kind: .gauge, unit: "seconds")
        var probeTimestamp = MetricFamily(name: "infraprobe_probe_timestamp_seconds",
                                          help: "When the probe this answer comes from started, in seconds since the Unix epoch.", kind: .gauge, unit: "seconds")
        var reused = MetricFamily(name: "infraprobe_probe_reused",
                                  help: "1 if this answer is an earlier probe served again within the target's min_interval, 0 if it was probed for this scrape.", kind: .gauge)
        var info = MetricFamily(name: "infraprobe_service_info", help: "1, labelled with the version the service reports.", kind: .gauge)
        var facts: [String: MetricFamily] = [:]

        for result in results {
            let base = [("target", result.target), ("prober", result.prober)]
            for component in result.components {
                let labels = base + [("component", component.component)]
                up.add(labels, component.ok ? 1 : 0)
                duration.add(labels, component.duration.seconds)
                lastRun.add(labels, component.lastRunAt)
                runInterval.add(labels, result.runIntervals[component.component]?.seconds ?? 0)
                let seconds = component.duration.seconds
                let exemplar = result.traceID.map {
                    MetricFamily.Exemplar(labels: [.init("trace_id", $0)], value: seconds,
                                          timestamp: result.startedAt + (component.startOffset + component.duration).seconds)
                }
                histogram.addHistogram(labels, bounds: componentBuckets, cumulativeCounts: componentBuckets.map { seconds <= $0 ? 1 : 0 },
                                       sum: seconds, count: 1, exemplar: exemplar)
                if let reason = component.failure {
                    var failureLabels = labels + [("reason", reason.reason.rawValue)]
                    if let hop = reason.hop { failureLabels.append(("hop", hop)) }
                    failure.add(failureLabels, 1)
                }
            }
            ratio.add(base, result.healthRatio)
            total.add(base, Double(result.components.count))
            passed.add(base, Double(result.passed))
            success.add([("target", result.target)], result.success ? 1 : 0)
            probeDuration.add([("target", result.target)], result.duration.seconds)
            probeTimestamp.add([("target", result.target)], result.startedAt)
            reused.add([("target", result.target)], result.reused ? 1 : 0)
            if let version = result.version { info.add(base + [("version", version)], 1) }
            for fact in result.facts {
                var family = facts[fact.name] ?? MetricFamily(name: fact.name, help: fact.help, kind: .gauge)
                family.add(base + fact.labels.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, fact.value)
                facts[fact.name] = family
            }
        }
        var families = [up, duration, lastRun, runInterval, histogram, failure, ratio, total, passed, success, probeDuration, probeTimestamp, reused, info]
            + facts.values
        if includeOverall {
            let components = results.reduce(0) { $0 + $1.components.count }
            let healthy = results.reduce(0) { $0 + $1.passed }
            families.append(.gauge("infraprobe_overall_health_ratio", "Passed components / all components over every configured target.",
                                   unit: "ratio", [([], components == 0 ? 0 : Double(healthy) / Double(components))]))
        }
        return families
    }
}
