/// The `/probe` exposition written straight from probe results into one byte buffer: the same
/// bytes as `ExpositionWriter.writeBytes(ProbeMetrics.families(…))`, without building a
/// MetricFamily sample, its label array and its sort key for each of the ~140 lines of a
/// seven-component probe, and without sorting them: the series order follows from sorting the
/// targets and their components once. Results for which that shortcut cannot promise the
/// writer's order (a repeated target or component; a name outside ASCII, whose order Unicode
/// normalization decides, or with a byte below the writer's key separator) or its merging (a service fact named like one
/// of the fixed families) take the general path.
public enum ProbeExposition {
    public static func render(_ results: [TargetProbeResult], includeOverall: Bool, format: ExpositionFormat) -> [UInt8] {
        direct(results, includeOverall: includeOverall, format: format)
            ?? ExpositionWriter.writeBytes(ProbeMetrics.families(for: results, includeOverall: includeOverall), format: format)
    }

    /// The exposition without MetricFamily values, or nil when these results need the general path.
    static func direct(_ results: [TargetProbeResult], includeOverall: Bool, format: ExpositionFormat) -> [UInt8]? {
        let facts = ProbeMetrics.factFamilies(for: results)
        guard let rows = rows(results), !facts.keys.contains(where: { ProbeFamily.names.contains($0) }) else { return nil }
        let components = rows.reduce(0) { $0 + $1.components.count }
        var out: [UInt8] = []
        out.reserveCapacity(4096 + components * (ProbeMetrics.componentBuckets.count + 8) * 200 + rows.count * 1024)
        let factNames = facts.keys.sorted()
        var nextFact = 0
        func writeFacts(before name: String?) {
            while nextFact < factNames.count, name.map({ factNames[nextFact] < $0 }) ?? true {
                ExpositionWriter.writeFamily(facts[factNames[nextFact]]!, format: format, into: &out)
                nextFact += 1
            }
        }
        for family in ProbeFamily.sorted {
            writeFacts(before: family.name)
            write(family, rows: rows, components: components, includeOverall: includeOverall, format: format, into: &out)
        }
        writeFacts(before: nil)
        if format == .openMetrics100 { out.append(contentsOf: "# EOF\n".utf8) }
        return out
    }

    /// One result with its label sets escaped once: `{target="T"`, `{target="T",prober="P"` and,
    /// per component in name order, `{target="T",prober="P",component="C"` (each left open).
    private struct Row {
        let result: TargetProbeResult
        let target: [UInt8]
        let targetProber: [UInt8]
        let components: [(result: ComponentResult, labels: [UInt8])]
    }

    /// The results in the writer's series order, or nil when it cannot be had by sorting names.
    private static func rows(_ results: [TargetProbeResult]) -> [Row]? {
        guard results.allSatisfy({ isOrderedByBytes($0.target) && $0.components.allSatisfy { isOrderedByBytes($0.component) } }) else {
            return nil
        }
        let sorted = results.count > 1 ? results.sorted { $0.target < $1.target } : results
        for index in sorted.indices.dropFirst() where sorted[index].target == sorted[index - 1].target { return nil }
        var rows: [Row] = []
        rows.reserveCapacity(sorted.count)
        for result in sorted {
            var target: [UInt8] = Array("{target=\"".utf8)
            target.append(contentsOf: ExpositionWriter.escapeLabelValue(result.target).utf8)
            target.append(UInt8(ascii: "\""))
            var targetProber = target
            targetProber.append(contentsOf: ",prober=\"".utf8)
            targetProber.append(contentsOf: ExpositionWriter.escapeLabelValue(result.prober).utf8)
            targetProber.append(UInt8(ascii: "\""))
            let components = result.components.sorted { $0.component < $1.component }
            for index in components.indices.dropFirst() where components[index].component == components[index - 1].component { return nil }
            rows.append(Row(result: result, target: target, targetProber: targetProber, components: components.map { component in
                var labels = targetProber
                labels.append(contentsOf: ",component=\"".utf8)
                labels.append(contentsOf: ExpositionWriter.escapeLabelValue(component.component).utf8)
                labels.append(UInt8(ascii: "\""))
                return (component, labels)
            }))
        }
        return rows
    }

    /// The writer sorts series by `name=value\u{1}` keys; for ASCII values without bytes at or
    /// below that separator, their order is the order of the values themselves.
    private static func isOrderedByBytes(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 > 0x01 && $0 < 0x80 }
    }

    private static func write(_ family: ProbeFamily, rows: [Row], components: Int, includeOverall: Bool, format: ExpositionFormat,
                              into out: inout [UInt8]) {
        let name = family.nameBytes
        func header() { out.append(contentsOf: format == .openMetrics100 ? family.openMetricsHeader : family.textHeader) }
        func line(_ labels: [UInt8], _ value: Double) {
            out.append(contentsOf: name)
            out.append(contentsOf: labels)
            out.append(contentsOf: "} ".utf8)
            ExpositionWriter.appendValue(value, into: &out)
            out.append(UInt8(ascii: "\n"))
        }
        func eachComponent(_ value: (Row, ComponentResult) -> Double) {
            guard components > 0 else { return }
            header()
            for row in rows {
                for (component, labels) in row.components { line(labels, value(row, component)) }
            }
        }
        func eachTarget(withProber: Bool, _ value: (TargetProbeResult) -> Double) {
            guard !rows.isEmpty else { return }
            header()
            for row in rows { line(withProber ? row.targetProber : row.target, value(row.result)) }
        }
        switch family {
        case .up: eachComponent { $1.ok ? 1 : 0 }
        case .duration: eachComponent { $1.duration.seconds }
        case .lastRun: eachComponent { $1.lastRunAt }
        case .runInterval: eachComponent { $0.result.runIntervals[$1.component]?.seconds ?? 0 }
        case .latency:
            guard components > 0 else { return }
            header()
            for row in rows { writeLatency(row, format: format, into: &out) }
        case .failure:
            guard rows.contains(where: { $0.components.contains { !$0.result.ok } }) else { return }
            header()
            for row in rows {
                for (component, labels) in row.components {
                    guard let failure = component.failure else { continue }
                    out.append(contentsOf: name)
                    out.append(contentsOf: labels)
                    appendLabel("reason", failure.reason.rawValue, into: &out)
                    if let hop = failure.hop { appendLabel("hop", hop, into: &out) }
                    out.append(contentsOf: "} 1\n".utf8)
                }
            }
        case .healthRatio: eachTarget(withProber: true) { $0.healthRatio }
        case .components: eachTarget(withProber: true) { Double($0.components.count) }
        case .componentsUp: eachTarget(withProber: true) { Double($0.passed) }
        case .success: eachTarget(withProber: false) { $0.success ? 1 : 0 }
        case .probeDuration: eachTarget(withProber: false) { $0.duration.seconds }
        case .probeTimestamp: eachTarget(withProber: false) { $0.startedAt }
        case .reused: eachTarget(withProber: false) { $0.reused ? 1 : 0 }
        case .serviceInfo:
            guard rows.contains(where: { $0.result.version != nil }) else { return }
            header()
            for row in rows {
                guard let version = row.result.version else { continue }
                out.append(contentsOf: name)
                out.append(contentsOf: row.targetProber)
                appendLabel("version", version, into: &out)
                out.append(contentsOf: "} 1\n".utf8)
            }
        case .overallHealth:
            guard includeOverall else { return }
            header()
            let healthy = rows.reduce(0) { $0 + $1.result.passed }
            out.append(contentsOf: name)
            out.append(UInt8(ascii: " "))
            ExpositionWriter.appendValue(components == 0 ? 0 : Double(healthy) / Double(components), into: &out)
            out.append(UInt8(ascii: "\n"))
        }
    }

    /// `,name="escaped value"`
    private static func appendLabel(_ name: String, _ value: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: ","))
        out.append(contentsOf: name.utf8)
        out.append(contentsOf: "=\"".utf8)
        out.append(contentsOf: ExpositionWriter.escapeLabelValue(value).utf8)
        out.append(UInt8(ascii: "\""))
    }

    /// Each component's one observation: its buckets by ascending bound, `_count`, then `_sum`
    /// (the writer's histogram order); in OpenMetrics the bucket the observation fell into
    /// carries the probe's trace id as exemplar.
    private static func writeLatency(_ row: Row, format: ExpositionFormat, into out: inout [UInt8]) {
        let bounds = ProbeMetrics.componentBuckets
        let traceID = format == .openMetrics100 ? row.result.traceID.flatMap { id in
            // The writer's exemplar rule: at most 128 characters of label names and values.
            "trace_id".count + id.count <= 128 ? ExpositionWriter.escapeLabelValue(id) : nil
        } : nil
        for (component, labels) in row.components {
            let seconds = component.duration.seconds
            let exemplarBucket = bounds.firstIndex { seconds <= $0 } ?? bounds.count
            for index in 0...bounds.count {
                out.append(contentsOf: ProbeFamily.latencyBucketName)
                out.append(contentsOf: labels)
                out.append(contentsOf: ProbeFamily.latencyBucketBounds[index])
                out.append(index == bounds.count || seconds <= bounds[index] ? UInt8(ascii: "1") : UInt8(ascii: "0"))
                if let traceID, index == exemplarBucket {
                    out.append(contentsOf: " # {trace_id=\"".utf8)
                    out.append(contentsOf: traceID.utf8)
                    out.append(contentsOf: "\"} ".utf8)
                    ExpositionWriter.appendValue(seconds, into: &out)
                    out.append(UInt8(ascii: " "))
                    let timestamp = row.result.startedAt + (component.startOffset + component.duration).seconds
                    out.append(contentsOf: ExpositionWriter.formatTimestamp(timestamp).utf8)
                }
                out.append(UInt8(ascii: "\n"))
            }
            out.append(contentsOf: ProbeFamily.latencyCountName)
            out.append(contentsOf: labels)
            out.append(contentsOf: "} 1\n".utf8)
            out.append(contentsOf: ProbeFamily.latencySumName)
            out.append(contentsOf: labels)
            out.append(contentsOf: "} ".utf8)
            ExpositionWriter.appendValue(seconds, into: &out)
            out.append(UInt8(ascii: "\n"))
        }
    }
}
