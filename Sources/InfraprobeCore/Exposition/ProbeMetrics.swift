/// Turns probe results into the `/probe` metric families of DESIGN §5. `/probe` writes them
/// through `ProbeExposition`, which gives the same bytes without building these families.
public enum ProbeMetrics {
    public static let componentBuckets = SelfMetrics.durationBuckets

    public static func families(for results: [TargetProbeResult], includeOverall: Bool) -> [MetricFamily] {
        var up = ProbeFamily.up.emptyFamily
        var duration = ProbeFamily.duration.emptyFamily
        // This scrape's one observation per component, so that its exemplar (the probe's trace)
        // links a slow or failing component to its trace; aggregate with rate() across scrapes.
        var histogram = ProbeFamily.latency.emptyFamily
        var failure = ProbeFamily.failure.emptyFamily
        var ratio = ProbeFamily.healthRatio.emptyFamily
        var total = ProbeFamily.components.emptyFamily
        var passed = ProbeFamily.componentsUp.emptyFamily
        var success = ProbeFamily.success.emptyFamily
        var probeDuration = ProbeFamily.probeDuration.emptyFamily
        var lastRun = ProbeFamily.lastRun.emptyFamily
        var runInterval = ProbeFamily.runInterval.emptyFamily
        var probeTimestamp = ProbeFamily.probeTimestamp.emptyFamily
        var reused = ProbeFamily.reused.emptyFamily
        var info = ProbeFamily.serviceInfo.emptyFamily

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
        }
        var families = [up, duration, lastRun, runInterval, histogram, failure, ratio, total, passed, success, probeDuration, probeTimestamp, reused, info]
            + factFamilies(for: results).values
        if includeOverall {
            let components = results.reduce(0) { $0 + $1.components.count }
            let healthy = results.reduce(0) { $0 + $1.passed }
            var overall = ProbeFamily.overallHealth.emptyFamily
            overall.add([], components == 0 ? 0 : Double(healthy) / Double(components))
            families.append(overall)
        }
        return families
    }

    /// The service facts of every result, one gauge family per fact name.
    static func factFamilies(for results: [TargetProbeResult]) -> [String: MetricFamily] {
        var facts: [String: MetricFamily] = [:]
        for result in results {
            for fact in result.facts {
                var family = facts[fact.name] ?? MetricFamily(name: fact.name, help: fact.help, kind: .gauge)
                family.add([("target", result.target), ("prober", result.prober)] + fact.labels.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                           fact.value)
                facts[fact.name] = family
            }
        }
        return facts
    }
}
