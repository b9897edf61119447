import FoundationEssentials
import Glibc

/// The exporter's own metrics (served on `/metrics`, never mixed with probe results).
public final class SelfMetrics: Sendable {
    public static let durationBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    public let version: String
    public let revision: String

    private struct Histogram {
        var counts: [UInt64] = Array(repeating: 0, count: SelfMetrics.durationBuckets.count)
        var sum = 0.0
        var count: UInt64 = 0
    }

    private struct State {
        var probes: [String: [String: Double]] = [:]  // prober → result → count
        var durations: [String: Histogram] = [:]
        var inFlight = 0
        var requests: [String: [String: Double]] = [:]  // handler → code → count
        var reloadSuccessful = 1.0
        var reloadTimestamp = Date().timeIntervalSince1970
        var webConfigReloads: [String: Double] = ["success": 0, "failure": 0]
        var webConfigReloadSuccessful = 1.0
        /// nil while probe traces are off: then the trace counters are not exposed at all.
        var tracesExported: Double?
        var tracesDropped: [String: Double] = [:]
        var traceQueueLength = 0
        var leftoversFound: [String: Double] = [:]
        var leftoversRemoved: [String: Double] = [:]
        var cleanupsAbandoned: [String: Double] = [:]
        var cleanupPending = 0
        var janitorLastRun: Double?
    }

    private let state = Locked(State())

    public init(version: String, revision: String) {
        self.version = version
        self.revision = revision
    }

    public func recordProbe(prober: String, success: Bool, duration: Duration) {
        state.withLock { state in
            state.probes[prober, default: [:]][success ? "success" : "failure", default: 0] += 1
            var histogram = state.durations[prober] ?? Histogram()
            let seconds = duration.seconds
            for (index, bound) in Self.durationBuckets.enumerated() where seconds <= bound { histogram.counts[index] += 1 }
            histogram.sum += seconds
            histogram.count += 1
            state.durations[prober] = histogram
        }
    }

    public func probeStarted() { state.withLock { $0.inFlight += 1 } }
    public func probeFinished() { state.withLock { $0.inFlight -= 1 } }

    public func recordRequest(handler: String, code: Int) {
        state.withLock { $0.requests[handler, default: [:]][String(code), default: 0] += 1 }
    }

    public func recordReload(success: Bool) {
        state.withLock { state in
            state.reloadSuccessful = success ? 1 : 0
            if success { state.reloadTimestamp = Date().timeIntervalSince1970 }
        }
    }

    /// A changed `--web.config.file` (or a file it names) was re-read: applied, or refused and the old one kept.
    public func recordWebConfigReload(success: Bool) {
        state.withLock { state in
            state.webConfigReloads[success ? "success" : "failure", default: 0] += 1
            state.webConfigReloadSuccessful = success ? 1 : 0
        }
    }

    /// Exposes the trace counters (at zero, every drop reason) from now on.
    public func enableTraceCounters(reasons: [String]) {
        state.withLock { state in
            state.tracesExported = state.tracesExported ?? 0
            for reason in reasons { state.tracesDropped[reason] = state.tracesDropped[reason] ?? 0 }
        }
    }

    public func recordTracesExported(count: Int) {
        state.withLock { $0.tracesExported = ($0.tracesExported ?? 0) + Double(count) }
    }

    public func recordTraceQueueLength(_ length: Int) {
        state.withLock { $0.traceQueueLength = length }
    }

    public func recordTracesDropped(reason: String, count: Int) {
        state.withLock { $0.tracesDropped[reason, default: 0] += Double(count) }
    }

    /// An object a probe or crashed exporter left behind was found (by the cleanup ledger or the janitor).
    public func recordLeftoverFound(prober: String, count: Int = 1) {
        state.withLock { $0.leftoversFound[prober, default: 0] += Double(count) }
    }

    public func recordLeftoverRemoved(prober: String, count: Int = 1) {
        state.withLock { $0.leftoversRemoved[prober, default: 0] += Double(count) }
    }

    /// A pending removal given up (ledger full, or out of tries): the janitor's to find later.
    public func recordCleanupAbandoned(prober: String) {
        state.withLock { $0.cleanupsAbandoned[prober, default: 0] += 1 }
    }

    public func recordCleanupPending(_ count: Int) {
        state.withLock { $0.cleanupPending = count }
    }

    public func recordJanitorRun(at timestamp: Double = Date().timeIntervalSince1970) {
        state.withLock { $0.janitorLastRun = timestamp }
    }

    public func families() -> [MetricFamily] {
        let snapshot = state.current
        var probes = MetricFamily(name: "infraprobe_probes", help: "Probes run, by prober and result.", kind: .counter)
        for (prober, results) in snapshot.probes {
            for result in ["success", "failure"] {
                probes.add([("prober", prober), ("result", result)], results[result] ?? 0, suffix: "_total")
            }
        }
        var durations = MetricFamily(name: "infraprobe_probe_duration_seconds", help: "Duration of whole target probes.", kind: .histogram, unit: "seconds")
        for (prober, histogram) in snapshot.durations {
            durations.addHistogram([("prober", prober)], bounds: Self.durationBuckets, cumulativeCounts: histogram.counts,
                                   sum: histogram.sum, count: histogram.count)
        }
        var requests = MetricFamily(name: "infraprobe_http_requests", help: "HTTP requests served, by handler and status code.", kind: .counter)
        for (handler, codes) in snapshot.requests {
            for (code, count) in codes { requests.add([("handler", handler), ("code", code)], count, suffix: "_total") }
        }
        var webReloads = MetricFamily(name: "infraprobe_web_config_reloads", help: "Re-reads of a changed --web.config.file, by result.", kind: .counter)
        for result in ["success", "failure"] { webReloads.add([("result", result)], snapshot.webConfigReloads[result] ?? 0, suffix: "_total") }
        var families = [
            MetricFamily.gauge("infraprobe_build_info", "Build of the running infraprobe.",
                               [([("version", version), ("revision", revision), ("swift_version", BuildInfo.swiftVersion)], 1)]),
            probes, durations, requests,
            .gauge("infraprobe_probes_in_flight", "Target probes running now.", [([], Double(snapshot.inFlight))]),
            .gauge("infraprobe_config_last_reload_successful", "1 if the last configuration load succeeded.", [([], snapshot.reloadSuccessful)]),
            .gauge("infraprobe_config_last_reload_success_timestamp_seconds", "When the configuration was last loaded successfully.",
                   unit: "seconds", [([], snapshot.reloadTimestamp)]),
            webReloads,
            .gauge("infraprobe_web_config_last_reload_successful", "1 if the last re-read of the web config succeeded (else the previous one is in force).",
                   [([], snapshot.webConfigReloadSuccessful)]),
        ]
        families.append(.counter("infraprobe_leftovers_found", "Objects probes left behind (a hung service, a killed exporter) found by the cleanup ledger or the janitor, by prober.",
                                 snapshot.leftoversFound.sorted { $0.key < $1.key }.map { ([("prober", $0.key)], $0.value) }))
        families.append(.counter("infraprobe_leftovers_removed", "Left-behind objects removed, by prober.",
                                 snapshot.leftoversRemoved.sorted { $0.key < $1.key }.map { ([("prober", $0.key)], $0.value) }))
        families.append(.counter("infraprobe_cleanups_abandoned", "Pending removals given up by the cleanup ledger (full, or out of tries), left to the janitor, by prober.",
                                 snapshot.cleanupsAbandoned.sorted { $0.key < $1.key }.map { ([("prober", $0.key)], $0.value) }))
        families.append(.gauge("infraprobe_cleanup_pending", "Removals waiting in the cleanup ledger for a retry.", [([], Double(snapshot.cleanupPending))]))
        if let janitorLastRun = snapshot.janitorLastRun {
            families.append(.gauge("infraprobe_janitor_last_run_timestamp_seconds", "When the janitor last finished a sweep of every target.",
                                   unit: "seconds", [([], janitorLastRun)]))
        }
        if let exported = snapshot.tracesExported {
            families.append(.counter("infraprobe_traces_exported", "Probe traces the OTLP endpoint accepted.", [([], exported)]))
            families.append(.counter("infraprobe_traces_dropped", "Probe traces not delivered, by reason (queue_full, send_failed, rejected).",
                                     snapshot.tracesDropped.map { ([("reason", $0.key)], $0.value) }))
            families.append(.gauge("infraprobe_trace_queue_length", "Probe traces waiting for export.", [([], Double(snapshot.traceQueueLength))]))
        }
        families += ProcessMetrics.families()
        return families
    }
}

/// `process_*` metrics read from /proc, as client_golang's process collector does.
enum ProcessMetrics {
    static func families() -> [MetricFamily] {
        var families: [MetricFamily] = []
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            // Fields after "(comm)": state is field 3; utime 14, stime 15, starttime 22, vsize 23, rss 24.
            let fields = stat[stat.index(after: close)...].split(separator: " ").map(String.init)
            func field(_ number: Int) -> Double { Double(fields[number - 3]) ?? 0 }
            if fields.count > 21 {
                var cpu = MetricFamily(name: "process_cpu_seconds", help: "Total user and system CPU time spent in seconds.", kind: .counter)
                cpu.add([], (field(14) + field(15)) / ticks, suffix: "_total")
                families.append(cpu)
                families.append(.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", [([], field(23))]))
                families.append(.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", [([], field(24) * pageSize)]))
                if let bootTime = bootTime() {
                    families.append(.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                                           [([], bootTime + field(22) / ticks)]))
                }
            }
        }
        if let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            families.append(.gauge("process_open_fds", "Number of open file descriptors.", [([], Double(fds.count))]))
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            families.append(.gauge("process_max_fds", "Maximum number of open file descriptors.", [([], Double(limit.rlim_cur))]))
        }
        return families
    }

    private static func bootTime() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingWhitespace())
        }
        return nil
    }
}

/// Version facts. The revision is the git commit `scripts/build-release` embeds (see
/// BuildRevision.swift); a plain `swift build` embeds none, and then `INFRAPROBE_REVISION` from
/// the environment is used (packagers can set it in the unit), else "unknown". Never guessed.
public enum BuildInfo {
    public static let version = "0.1.0"
    public static var revision: String {
        embeddedRevision ?? ProcessInfo.processInfo.environment["INFRAPROBE_REVISION"].flatMap { $0.isEmpty ? nil : $0 } ?? "unknown"
    }

    #if swift(>=6.3)
    public static let swiftVersion = "6.3"
    #elseif swift(>=6.2)
    public static let swiftVersion = "6.2"
    #else
    public static let swiftVersion = "6"
    #endif
}
