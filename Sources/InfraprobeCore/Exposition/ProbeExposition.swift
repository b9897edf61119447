/// The `/probe` exposition written straight from probe results into one byte buffer: the same
/// bytes as `ExpositionWriter.writeBytes(ProbeMetrics.families(…))`, without building a
/// MetricFamily sample, its label array and its sort key for each of the ~140 lines of a
/// seven-component probe, and without sorting them: the series order follows from sorting the
/// targets and their components once. Results for which that shortcut cannot promise the
/// writer's order (a repeated target or component; a name outside ASCII, whose order Unicode
/// normalization decides, or with a byte at or below the writer's key separator) or its
/// merging (a service fact named like one of the fixed families) take the general path.
public enum ProbeExposition {
    public static func render(_ results: [TargetProbeResult], includeOverall: Bool, format: ExpositionFormat) -> [UInt8] {
        direct(results, includeOverall: includeOverall, format: format)
            ?? ExpositionWriter.writeBytes(ProbeMetrics.families(for: results, includeOverall: includeOverall), format: format)
    }

    /// The exposition without MetricFamily values, or nil when these results need the general path.
    static func direct(_ results: [TargetProbeResult], includeOverall: Bool, format: ExpositionFormat) -> [UInt8]? {
        guard let layout = Layout(results), !layout.facts.keys.contains(where: { ProbeFamily.names.contains($0) }) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(4096 + layout.checks.count * (ProbeMetrics.componentBuckets.count + 8) * 200 + layout.targets.count * 1024)
        let factNames = layout.facts.keys.sorted()
        // Facts with labels, or repeated in one result, are sorted and merged as the writer does.
        let labelled = layout.facts.values.allSatisfy(\.direct) ? [:] : ProbeMetrics.factFamilies(for: results)
        var nextFact = 0
        func writeFacts(before name: String?) {
            while nextFact < factNames.count, name.map({ factNames[nextFact] < $0 }) ?? true {
                let name = factNames[nextFact]
                let family = layout.facts[name]!
                if family.direct {
                    ExpositionWriter.writeHeader(name: name, help: family.help, kind: .gauge, unit: nil, format: format, into: &out)
                    for (target, value) in family.lines {
                        out.append(contentsOf: name.utf8)
                        out.append(contentsOf: layout.labels[layout.targets[target].targetProber])
                        out.append(contentsOf: "} ".utf8)
                        ExpositionWriter.appendValue(value, into: &out)
                        out.append(UInt8(ascii: "\n"))
                    }
                } else {
                    ExpositionWriter.writeFamily(labelled[name]!, format: format, into: &out)
                }
                nextFact += 1
            }
        }
        layout.labels.withUnsafeBufferPointer { labels in
            ProbeFamily.latencyBucketEnds.withUnsafeBufferPointer { bucketEnds in
                let writer = Writer(layout: layout, labels: labels, bucketEnds: bucketEnds, format: format, includeOverall: includeOverall)
                for family in ProbeFamily.sorted {
                    writeFacts(before: family.name)
                    writer.write(family, into: &out)
                }
            }
        }
        writeFacts(before: nil)
        if format == .openMetrics100 { out.append(contentsOf: "# EOF\n".utf8) }
        return out
    }

    /// The results in the writer's series order, with every label set escaped once into one
    /// buffer and left open: `{target="T"`, `{target="T",prober="P"` and, per component in name
    /// order, `{target="T",prober="P",component="C"`.
    private struct Layout {
        /// What the target-level lines need, without references to retain on every read.
        struct Target {
            let target: Range<Int>
            let targetProber: Range<Int>
            let healthRatio: Double
            let components: Int
            let passed: Int
            let success: Bool
            let duration: Double
            let startedAt: Double
            let reused: Bool
        }

        /// What a component's lines need; `result`/`component` index the results for the rest.
        struct Check {
            let target: Int
            let component: Int
            let labels: Range<Int>
            let ok: Bool
            let seconds: Double
            let lastRunAt: Double
            let runInterval: Double
            /// The exemplar's timestamp: when the check ended.
            let endedAt: Double
        }

        /// The service facts by name: a gauge family each, with its first fact's help.
        struct FactFamily {
            let help: String
            /// One line per target (by index), in series order.
            var lines: [(target: Int, value: Double)] = []
            /// No labels beyond target and prober, and at most one per target: written here.
            var direct = true
        }

        var labels: [UInt8] = []
        var facts: [String: FactFamily] = [:]
        /// In series order, and their `targets` alongside.
        var results: [TargetProbeResult] = []
        var targets: [Target] = []
        /// Every component of every target, in series order.
        var checks: [Check] = []

        init?(_ unsorted: [TargetProbeResult]) {
            guard unsorted.allSatisfy({ Self.isOrderedByBytes($0.target) && $0.components.allSatisfy { Self.isOrderedByBytes($0.component) } })
            else { return nil }
            let sorted = unsorted.count > 1 ? unsorted.sorted { $0.target < $1.target } : unsorted
            for index in sorted.indices.dropFirst() where sorted[index].target == sorted[index - 1].target { return nil }
            labels.reserveCapacity(sorted.reduce(0) { $0 + $1.components.count } * 96 + sorted.count * 96)
            for result in unsorted {
                for fact in result.facts where facts[fact.name] == nil { facts[fact.name] = FactFamily(help: fact.help) }
            }
            for result in sorted {
                let order = result.components.indices.sorted { result.components[$0].component < result.components[$1].component }
                for index in order.indices.dropFirst() where result.components[order[index]].component == result.components[order[index - 1]].component {
                    return nil
                }
                let targetStart = labels.count
                append("{target=\"", result.target)
                let targetEnd = labels.count
                append(",prober=\"", result.prober)
                let proberEnd = labels.count
                let targetProber = Array(labels[targetStart..<proberEnd])
                for index in order {
                    let component = result.components[index]
                    let start = labels.count
                    labels.append(contentsOf: targetProber)
                    append(",component=\"", component.component)
                    checks.append(Check(target: targets.count, component: index, labels: start..<labels.count, ok: component.ok,
                                        seconds: component.duration.seconds, lastRunAt: component.lastRunAt,
                                        runInterval: result.runIntervals[component.component]?.seconds ?? 0,
                                        endedAt: result.startedAt + (component.startOffset + component.duration).seconds))
                }
                for (index, fact) in result.facts.enumerated() {
                    if !fact.labels.isEmpty || result.facts[..<index].contains(where: { $0.name == fact.name }) {
                        facts[fact.name]?.direct = false
                    } else {
                        facts[fact.name]?.lines.append((targets.count, fact.value))
                    }
                }
                results.append(result)
                targets.append(Target(target: targetStart..<targetEnd, targetProber: targetStart..<proberEnd, healthRatio: result.healthRatio,
                                      components: result.components.count, passed: result.passed, success: result.success,
                                      duration: result.duration.seconds, startedAt: result.startedAt, reused: result.reused))
            }
        }

        private mutating func append(_ opening: String, _ value: String) {
            labels.append(contentsOf: opening.utf8)
            labels.append(contentsOf: ExpositionWriter.escapeLabelValue(value).utf8)
            labels.append(UInt8(ascii: "\""))
        }

        /// The writer sorts series by `name=value\u{1}` keys; for ASCII values without bytes at or
        /// below that separator, their order is the order of the values themselves.
        private static func isOrderedByBytes(_ text: String) -> Bool {
            text.utf8.allSatisfy { $0 > 0x01 && $0 < 0x80 }
        }
    }

    private struct Writer {
        let layout: Layout
        let labels: UnsafeBufferPointer<UInt8>
        /// `,le="0.005"} ` … `,le="+Inf"} `, back to back (`ProbeFamily.latencyBucketEndOffsets`).
        let bucketEnds: UnsafeBufferPointer<UInt8>
        let format: ExpositionFormat
        let includeOverall: Bool

        func write(_ family: ProbeFamily, into out: inout [UInt8]) {
            let name = family.nameBytes
            func header() { out.append(contentsOf: format == .openMetrics100 ? family.openMetricsHeader : family.textHeader) }
            func line(_ labelSet: Range<Int>, _ value: Double) {
                out.append(contentsOf: name)
                out.append(contentsOf: bytes(labelSet))
                out.append(contentsOf: "} ".utf8)
                ExpositionWriter.appendValue(value, into: &out)
                out.append(UInt8(ascii: "\n"))
            }
            func eachComponent(_ value: (Layout.Check) -> Double) {
                guard !layout.checks.isEmpty else { return }
                header()
                for check in layout.checks { line(check.labels, value(check)) }
            }
            func eachTarget(withProber: Bool, _ value: (Layout.Target) -> Double) {
                guard !layout.targets.isEmpty else { return }
                header()
                for target in layout.targets { line(withProber ? target.targetProber : target.target, value(target)) }
            }
            switch family {
            case .up: eachComponent { $0.ok ? 1 : 0 }
            case .duration: eachComponent { $0.seconds }
            case .lastRun: eachComponent { $0.lastRunAt }
            case .runInterval: eachComponent { $0.runInterval }
            case .latency:
                guard !layout.checks.isEmpty else { return }
                header()
                writeLatency(into: &out)
            case .failure:
                guard layout.checks.contains(where: { !$0.ok }) else { return }
                header()
                for check in layout.checks where !check.ok {
                    guard let failure = layout.results[check.target].components[check.component].failure else { continue }
                    out.append(contentsOf: name)
                    out.append(contentsOf: bytes(check.labels))
                    appendLabel("reason", failure.reason.rawValue, into: &out)
                    if let hop = failure.hop { appendLabel("hop", hop, into: &out) }
                    out.append(contentsOf: "} 1\n".utf8)
                }
            case .healthRatio: eachTarget(withProber: true) { $0.healthRatio }
            case .components: eachTarget(withProber: true) { Double($0.components) }
            case .componentsUp: eachTarget(withProber: true) { Double($0.passed) }
            case .success: eachTarget(withProber: false) { $0.success ? 1 : 0 }
            case .probeDuration: eachTarget(withProber: false) { $0.duration }
            case .probeTimestamp: eachTarget(withProber: false) { $0.startedAt }
            case .reused: eachTarget(withProber: false) { $0.reused ? 1 : 0 }
            case .serviceInfo:
                guard layout.results.contains(where: { $0.version != nil }) else { return }
                header()
                for (target, result) in zip(layout.targets, layout.results) {
                    guard let version = result.version else { continue }
                    out.append(contentsOf: name)
                    out.append(contentsOf: bytes(target.targetProber))
                    appendLabel("version", version, into: &out)
                    out.append(contentsOf: "} 1\n".utf8)
                }
            case .overallHealth:
                guard includeOverall else { return }
                header()
                let healthy = layout.targets.reduce(0) { $0 + $1.passed }
                out.append(contentsOf: name)
                out.append(UInt8(ascii: " "))
                ExpositionWriter.appendValue(layout.checks.isEmpty ? 0 : Double(healthy) / Double(layout.checks.count), into: &out)
                out.append(UInt8(ascii: "\n"))
            }
        }

        private func bytes(_ range: Range<Int>) -> UnsafeBufferPointer<UInt8> {
            UnsafeBufferPointer(rebasing: labels[range])
        }

        /// `,name="escaped value"`
        private func appendLabel(_ name: String, _ value: String, into out: inout [UInt8]) {
            out.append(UInt8(ascii: ","))
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: "=\"".utf8)
            out.append(contentsOf: ExpositionWriter.escapeLabelValue(value).utf8)
            out.append(UInt8(ascii: "\""))
        }

        /// Each component's one observation: its buckets by ascending bound, `_count`, then `_sum`
        /// (the writer's histogram order); in OpenMetrics the bucket the observation fell into
        /// carries the probe's trace id as exemplar.
        private func writeLatency(into out: inout [UInt8]) {
            let bounds = ProbeMetrics.componentBuckets
            let (bucketName, countName, sumName) = (ProbeFamily.latencyBucketName, ProbeFamily.latencyCountName, ProbeFamily.latencySumName)
            let endOffsets = ProbeFamily.latencyBucketEndOffsets
            // The writer's exemplar rule: at most 128 characters of label names and values.
            let traceIDs = layout.results.map { result in
                format == .openMetrics100 ? result.traceID.flatMap { "trace_id".count + $0.count <= 128 ? ExpositionWriter.escapeLabelValue($0) : nil } : nil
            }
            for check in layout.checks {
                let traceID = traceIDs[check.target]
                let seconds = check.seconds
                let exemplarBucket = bounds.firstIndex { seconds <= $0 } ?? bounds.count
                for index in 0...bounds.count {
                    out.append(contentsOf: bucketName)
                    out.append(contentsOf: bytes(check.labels))
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: bucketEnds[endOffsets[index]..<endOffsets[index + 1]]))
                    out.append(index == bounds.count || seconds <= bounds[index] ? UInt8(ascii: "1") : UInt8(ascii: "0"))
                    if let traceID, index == exemplarBucket {
                        out.append(contentsOf: " # {trace_id=\"".utf8)
                        out.append(contentsOf: traceID.utf8)
                        out.append(contentsOf: "\"} ".utf8)
                        ExpositionWriter.appendValue(seconds, into: &out)
                        out.append(UInt8(ascii: " "))
                        out.append(contentsOf: ExpositionWriter.formatTimestamp(check.endedAt).utf8)
                    }
                    out.append(UInt8(ascii: "\n"))
                }
                out.append(contentsOf: countName)
                out.append(contentsOf: bytes(check.labels))
                out.append(contentsOf: "} 1\n".utf8)
                out.append(contentsOf: sumName)
                out.append(contentsOf: bytes(check.labels))
                out.append(contentsOf: "} ".utf8)
                ExpositionWriter.appendValue(seconds, into: &out)
                out.append(UInt8(ascii: "\n"))
            }
        }
    }
}
