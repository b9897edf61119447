import FoundationEssentials
import Glibc
import Logging

/// One probe that ran, kept for the landing page and `/logs?id=N`.
public struct ProbeRecord: Sendable {
    public let id: Int
    public let result: TargetProbeResult
    public let settings: [RedactedSetting]
    /// The module, for `/probe?module=M&target=ADDR`; nil for a named target.
    public var module: String? = nil

    /// Roughly what the record keeps in memory, for the history's byte budget.
    public var estimatedBytes: Int { Self.estimatedBytes(result: result, settings: settings) }

    static func estimatedBytes(result: TargetProbeResult, settings: [RedactedSetting]) -> Int {
        var bytes = 256 + result.target.utf8.count + (result.version?.utf8.count ?? 0)
        for component in result.components {
            bytes += 128 + component.component.utf8.count + (component.failure?.message.utf8.count ?? 0)
            for step in component.steps { bytes += step.estimatedBytes }
        }
        for fact in result.facts { bytes += 96 + fact.name.utf8.count + fact.help.utf8.count + fact.labels.count * 64 }
        for setting in settings { bytes += 48 + setting.key.utf8.count + setting.value.utf8.count }
        return bytes
    }
}

/// Runs probes for the web handlers and `check`: single-flight per target (concurrent scrapes
/// join the probe in flight), a cap on concurrent probe work, history and the latest results.
public final class ProbeService: Sendable {
    public struct Overloaded: Error {}
    /// The probe of this target is running and already has `limit` scrapes waiting on it.
    public struct TooManyWaiting: Error {
        public let target: String
        public let limit: Int
    }

    private struct RunningProbe {
        let shared: SharedProbe
        /// Scrapes that joined it and still wait on it, besides the one that started it.
        var joiners = 0
    }

    private struct State {
        var config: InfraprobeConfig
        var generation = 0
        var inFlight: [String: RunningProbe] = [:]
        var activeRequests = 0
        var history: ProbeHistory
        var nextID = 1
        /// Probes finished so far (ids are taken when a probe starts).
        var finished = 0
        var latest: [String: ProbeRecord] = [:]
        /// Latest result per (module, address); bounded, oldest dropped first.
        var latestDiscovered: [String: ProbeRecord] = [:]
        var discoveredOrder = OldestFirst()
        /// Per target, and per (module, address): component results for cadence, the last probe for `min_interval`.
        var cache: [String: TargetCache] = [:]
        /// The module addresses' keys in `cache`, oldest first.
        var moduleCacheOrder = OldestFirst()
    }

    /// What one target's next probes may serve instead of probing.
    private struct TargetCache {
        /// The spec the results were probed with; a different one (a reload) finds nothing.
        let fingerprint: String
        var components: [String: ComponentResult] = [:]
        var lastRecord: ProbeRecord?
    }

    /// How many module-probed addresses the landing page remembers.
    public static let discoveredLimit = 1000

    public let environment: ProberEnvironment
    public let metrics: SelfMetrics
    public let maxConcurrentProbes: Int
    /// Scrapes that may join one running probe. Joined scrapes do not count against
    /// `maxConcurrentProbes`, so without this a flood of requests for one slow target would
    /// hold a connection each until its deadline.
    public let maxJoinersPerProbe: Int
    public let historyLimit: Int
    /// The history's memory budget: oldest records go first once their estimated sizes sum past it
    /// (the newest is always kept).
    public let historyByteLimit: Int
    public static let defaultHistoryByteLimit = 4 << 20
    /// Exports each probe as a trace when `--tracing.otlp-endpoint` is set.
    public let tracer: TraceExporter?
    private let logger: Logger
    private let state: Locked<State>

    public init(config: InfraprobeConfig, environment: ProberEnvironment, metrics: SelfMetrics,
                maxConcurrentProbes: Int = 40, maxJoinersPerProbe: Int = 8, historyLimit: Int = 100,
                historyByteLimit: Int = ProbeService.defaultHistoryByteLimit, tracer: TraceExporter? = nil,
                logger: Logger = Logger(label: "infraprobe")) {
        self.environment = environment
        self.tracer = tracer
        self.metrics = metrics
        self.maxConcurrentProbes = maxConcurrentProbes
        self.maxJoinersPerProbe = maxJoinersPerProbe
        self.historyLimit = historyLimit
        self.historyByteLimit = historyByteLimit
        self.logger = logger
        self.state = Locked(State(config: config, history: ProbeHistory(countLimit: historyLimit, byteLimit: historyByteLimit)))
    }

    public var config: InfraprobeConfig { state.withLock { $0.config } }

    /// Swaps in a new config; probes already running finish with the one they started with.
    /// A target whose settings changed loses its cached results.
    public func replaceConfig(_ config: InfraprobeConfig) {
        state.withLock { state in
            state.config = config
            state.generation += 1
            state.latest = state.latest.filter { name, _ in config.target(named: name) != nil }
            state.latestDiscovered = state.latestDiscovered.filter { _, record in record.module.flatMap(config.module(named:)) != nil }
            let discovered = state.latestDiscovered
            state.discoveredOrder.retain { discovered[$0] != nil }
            state.cache = state.cache.filter { key, entry in
                switch Self.cacheOwner(key) {
                case .target(let name): config.target(named: name)?.fingerprint == entry.fingerprint
                // A module's address is built per request; its fingerprint is compared at the next probe.
                case .module(let name): config.module(named: name) != nil
                }
            }
            let cache = state.cache
            state.moduleCacheOrder.retain { cache[$0] != nil }
        }
    }

    private enum CacheOwner { case target(String), module(String) }

    private static func cacheKey(_ target: TargetSpec, module: String?) -> String {
        module.map { "module=\($0)\u{0}\(target.name)" } ?? target.name
    }

    private static func cacheOwner(_ key: String) -> CacheOwner {
        guard key.hasPrefix("module="), let separator = key.firstIndex(of: "\u{0}") else { return .target(key) }
        return .module(String(key[key.index(key.startIndex, offsetBy: 7)..<separator]))
    }

    private enum Started {
        case reused(ProbeRecord)
        case shared(SharedProbe)

        func answer(by deadline: Deadline) async -> ProbeRecord {
            switch self {
            case .reused(let record): record
            case .shared(let probe): await probe.answer(by: deadline)
            }
        }
    }

    /// Probes one target, or joins the probe of it already running, or, within the target's
    /// `min_interval`, serves the last probe again. The answer comes by this call's own deadline.
    public func probe(_ target: TargetSpec, module: String? = nil, timeout: Duration) async throws -> ProbeRecord {
        let deadline = Deadline.after(timeout)
        let (started, joinedKey) = try state.withLock { state -> (Started, String?) in
            if let record = reusable(target, module: module, state: &state) { return (.reused(record), nil) }
            let key = module.map { "\(state.generation)/module=\($0)/\(target.name)" } ?? "\(state.generation)/\(target.name)"
            if let running = state.inFlight[key] {
                guard running.joiners < maxJoinersPerProbe else { throw TooManyWaiting(target: target.name, limit: maxJoinersPerProbe) }
                state.inFlight[key]?.joiners += 1
                return (.shared(running.shared), key)
            }
            guard state.activeRequests < maxConcurrentProbes else { throw Overloaded() }
            state.activeRequests += 1
            return (.shared(startProbe(target, module: module, scrapeDeadline: deadline, timeout: timeout, key: key, state: &state,
                                       countsAsRequest: true)), nil)
        }
        let record = await started.answer(by: deadline)
        // A joiner answered by its own, shorter deadline waits no more: its place goes to the next
        // scrape, so scrapes more frequent than the probe is long are not refused.
        if let joinedKey, case .shared(let joined) = started {
            state.withLock { state in
                if state.inFlight[joinedKey]?.shared === joined { state.inFlight[joinedKey]?.joiners -= 1 }
            }
        }
        return record
    }

    /// Probes every configured target concurrently (one request against the cap).
    public func probeAll(timeout: (TargetSpec) -> Duration) async throws -> [ProbeRecord] {
        let started = try state.withLock { state -> [(Started, Deadline)] in
            guard state.activeRequests < maxConcurrentProbes else { throw Overloaded() }
            state.activeRequests += 1
            return state.config.targets.map { target in
                let deadline = Deadline.after(timeout(target))
                if let record = reusable(target, module: nil, state: &state) { return (.reused(record), deadline) }
                let key = "\(state.generation)/\(target.name)"
                let shared = state.inFlight[key]?.shared
                    ?? startProbe(target, scrapeDeadline: deadline, timeout: timeout(target), key: key, state: &state, countsAsRequest: false)
                return (.shared(shared), deadline)
            }
        }
        defer { state.withLock { $0.activeRequests -= 1 } }
        var records: [ProbeRecord] = []
        for (probe, deadline) in started { records.append(await probe.answer(by: deadline)) }
        return records
    }

    /// The last probe of this target, marked reused, when it started less than `min_interval` ago.
    private func reusable(_ target: TargetSpec, module: String?, state: inout State) -> ProbeRecord? {
        guard let minInterval = target.minInterval,
              let entry = state.cache[Self.cacheKey(target, module: module)], entry.fingerprint == target.fingerprint,
              var record = entry.lastRecord else { return nil }
        let age = Date().timeIntervalSince1970 - record.result.startedAt
        guard age >= 0, age < minInterval.seconds else { return nil }
        var result = record.result
        result.reused = true
        record = ProbeRecord(id: record.id, result: result, settings: record.settings, module: record.module)
        return record
    }

    /// The shared probe runs to the target's own timeout even when the scrape that starts it has a
    /// shorter one, so a scrape that joins later with a longer deadline is answered by the check's
    /// real outcome, not by the first scrape's deadline.
    /// The probe runs to the target's own timeout or the starting scrape's deadline, whichever is
    /// later, counted from the same instant: a scrape whose timeout is the target's shares the
    /// probe's deadline exactly, so it gets the whole record (history entry included), not a
    /// partial answer a few microseconds early.
    private func startProbe(_ target: TargetSpec, module: String? = nil, scrapeDeadline: Deadline, timeout: Duration, key: String,
                            state: inout State, countsAsRequest: Bool) -> SharedProbe {
        let deadline = timeout >= target.timeout ? scrapeDeadline : Deadline(scrapeDeadline.instant + (target.timeout - timeout))
        let environment = self.environment
        let id = state.nextID
        state.nextID += 1
        let cacheKey = Self.cacheKey(target, module: module)
        let entry = state.cache[cacheKey]
        // The fingerprint joins every setting into one string: only a target that keeps results needs it.
        let fingerprint = entry != nil || !target.every.isEmpty || target.minInterval != nil ? target.fingerprint : ""
        let cached = entry.flatMap { $0.fingerprint == fingerprint ? $0.components : nil } ?? [:]
        let traceID = tracer.map { _ in ProbeTrace.newTraceID() }
        let shared = SharedProbe(target: target, module: module, id: id, deadline: deadline, traceID: traceID)
        let work: @Sendable () async -> Void = { [self] in
            metrics.probeStarted()
            var result = await ComponentRunner.run(target: target, deadline: deadline, environment: environment,
                                                   cache: cached, progress: shared)
            if let tracer, let traceID {
                result.traceID = traceID
                tracer.submit(ProbeTrace(result: result))
            }
            metrics.probeFinished()
            metrics.recordProbe(prober: target.kind, success: result.success, duration: result.duration)
            if target.prober.executorPreference != nil && result.components.contains(where: { !$0.ok }) {
                // Failure lines are written to stderr, which can block: not on the prober's loop.
                let failed = result
                Task.detached { [self] in logOutcome(failed) }
            } else {
                logOutcome(result)
            }
            let settings = target.redactedSettings
            // Sized outside the lock: it walks every step.
            let bytes = ProbeRecord.estimatedBytes(result: result, settings: settings)
            let record = self.state.withLock { state in
                let record = ProbeRecord(id: id, result: result, settings: settings, module: module)
                state.history.append(record, bytes: bytes)
                state.finished += 1
                if let module {
                    let key = "\(module)\u{0}\(target.name)"
                    state.latestDiscovered[key] = record
                    state.discoveredOrder.stored(key)
                    if state.latestDiscovered.count > Self.discoveredLimit, let oldest = state.discoveredOrder.removeOldest() {
                        state.latestDiscovered[oldest] = nil
                    }
                } else {
                    state.latest[target.name] = record
                }
                store(record, target: target, cacheKey: cacheKey, isModule: module != nil, fingerprint: fingerprint, state: &state)
                state.inFlight[key] = nil
                if countsAsRequest { state.activeRequests -= 1 }
                return record
            }
            shared.complete(record)
        }
        // On the prober's loop (Redis): the components it starts run there without a hand-off.
        Task(executorPreference: target.prober.executorPreference, operation: work)
        state.inFlight[key] = RunningProbe(shared: shared)
        return shared
    }

    private func store(_ record: ProbeRecord, target: TargetSpec, cacheKey: String, isModule: Bool, fingerprint: String, state: inout State) {
        guard !target.every.isEmpty || target.minInterval != nil else {
            if state.cache.removeValue(forKey: cacheKey) != nil && isModule { state.moduleCacheOrder.removed(cacheKey) }
            return
        }
        var entry = state.cache[cacheKey].flatMap { $0.fingerprint == fingerprint ? $0 : nil } ?? TargetCache(fingerprint: fingerprint)
        for result in record.result.components where target.every[result.component] != nil && ComponentCadence.isCacheable(result) {
            entry.components[result.component] = result
        }
        if target.minInterval != nil { entry.lastRecord = record }
        state.cache[cacheKey] = entry
        guard isModule else { return }
        state.moduleCacheOrder.stored(cacheKey)
        if state.moduleCacheOrder.count > Self.discoveredLimit, let oldest = state.moduleCacheOrder.removeOldest() {
            state.cache[oldest] = nil
        }
    }

    private func logOutcome(_ result: TargetProbeResult) {
        let failed = result.components.filter { !$0.ok }
        if failed.isEmpty {
            logger.debug("probe succeeded", metadata: ["target": "\(result.target)", "duration_seconds": "\(result.duration.seconds)"])
        } else {
            for component in failed {
                logger.info("component failed", metadata: [
                    "target": "\(result.target)", "component": "\(component.component)",
                    "reason": "\(component.failure?.reason.rawValue ?? "")", "error": "\(component.failure?.message ?? "")",
                ])
            }
        }
    }

    public var history: [ProbeRecord] { state.withLock { $0.history.records } }

    /// The estimated bytes the history holds (at most `historyByteLimit`, unless one record alone is larger).
    public var historyBytes: Int { state.withLock { $0.history.bytes } }

    /// Changes whenever a probe finishes or the config is replaced.
    public var revision: Int { state.withLock { $0.finished &* 1_000_003 &+ $0.generation } }

    public func record(id: Int) -> ProbeRecord? { state.withLock { $0.history.record(id: id) } }

    /// Targets and module addresses with kept results (cadence or `min_interval`).
    var cachedTargetCount: Int { state.withLock { $0.cache.count } }

    public func latest(target: String) -> ProbeRecord? { state.withLock { $0.latest[target] } }

    /// The latest record of every configured target, by name, in one look.
    public var latestByTarget: [String: ProbeRecord] { state.withLock { $0.latest } }

    public var latestDiscoveredCount: Int { state.withLock { $0.latestDiscovered.count } }

    /// The latest result of every address probed through a module, by module then address.
    public var latestDiscovered: [ProbeRecord] {
        state.withLock { Array($0.latestDiscovered.values) }
            .sorted { ($0.module ?? "", $0.result.target) < ($1.module ?? "", $1.result.target) }
    }
}
