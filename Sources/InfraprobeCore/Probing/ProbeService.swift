import Foundation
import Logging

/// One probe that ran, kept for the landing page and `/logs?id=N`.
public struct ProbeRecord: Sendable {
    public let id: Int
    public let result: TargetProbeResult
    public let settings: [RedactedSetting]
}

/// Runs probes for the web handlers and `check`: single-flight per target (concurrent scrapes
/// join the probe in flight), a cap on concurrent probe work, history and the latest results.
public final class ProbeService: Sendable {
    public struct Overloaded: Error {}

    private struct State {
        var config: InfraprobeConfig
        var generation = 0
        var inFlight: [String: Task<ProbeRecord, Never>] = [:]
        var activeRequests = 0
        var history: [ProbeRecord] = []
        var nextID = 1
        var latest: [String: ProbeRecord] = [:]
    }

    public let environment: ProberEnvironment
    public let metrics: SelfMetrics
    public let maxConcurrentProbes: Int
    public let historyLimit: Int
    private let logger: Logger
    private let state: Locked<State>

    public init(config: InfraprobeConfig, environment: ProberEnvironment, metrics: SelfMetrics,
                maxConcurrentProbes: Int = 40, historyLimit: Int = 100, logger: Logger = Logger(label: "infraprobe")) {
        self.environment = environment
        self.metrics = metrics
        self.maxConcurrentProbes = maxConcurrentProbes
        self.historyLimit = historyLimit
        self.logger = logger
        self.state = Locked(State(config: config))
    }

    public var config: InfraprobeConfig { state.withLock { $0.config } }

    /// Swaps in a new config; probes already running finish with the one they started with.
    public func replaceConfig(_ config: InfraprobeConfig) {
        state.withLock { state in
            state.config = config
            state.generation += 1
            state.latest = state.latest.filter { name, _ in config.target(named: name) != nil }
        }
    }

    /// Probes one target, or joins the probe of it already running.
    public func probe(_ target: TargetSpec, timeout: Duration) async throws -> ProbeRecord {
        let task = try state.withLock { state -> Task<ProbeRecord, Never> in
            let key = "\(state.generation)/\(target.name)"
            if let running = state.inFlight[key] { return running }
            guard state.activeRequests < maxConcurrentProbes else { throw Overloaded() }
            state.activeRequests += 1
            return startProbe(target, timeout: timeout, key: key, state: &state, countsAsRequest: true)
        }
        return await task.value
    }

    /// Probes every configured target concurrently (one request against the cap).
    public func probeAll(timeout: (TargetSpec) -> Duration) async throws -> [ProbeRecord] {
        let tasks = try state.withLock { state -> [Task<ProbeRecord, Never>] in
            guard state.activeRequests < maxConcurrentProbes else { throw Overloaded() }
            state.activeRequests += 1
            return state.config.targets.map { target in
                let key = "\(state.generation)/\(target.name)"
                return state.inFlight[key] ?? startProbe(target, timeout: timeout(target), key: key, state: &state, countsAsRequest: false)
            }
        }
        defer { state.withLock { $0.activeRequests -= 1 } }
        var records: [ProbeRecord] = []
        for task in tasks { records.append(await task.value) }
        return records
    }

    private func startProbe(_ target: TargetSpec, timeout: Duration, key: String, state: inout State, countsAsRequest: Bool) -> Task<ProbeRecord, Never> {
        let deadline = Deadline.after(timeout)
        let environment = self.environment
        let work: @Sendable () async -> ProbeRecord = { [self] in
            metrics.probeStarted()
            let result = await ComponentRunner.run(target: target, deadline: deadline, environment: environment)
            metrics.probeFinished()
            metrics.recordProbe(prober: target.kind, success: result.success, duration: result.duration)
            logOutcome(result)
            return self.state.withLock { state in
                let record = ProbeRecord(id: state.nextID, result: result, settings: target.redactedSettings)
                state.nextID += 1
                state.history.append(record)
                if state.history.count > historyLimit { state.history.removeFirst(state.history.count - historyLimit) }
                state.latest[target.name] = record
                state.inFlight[key] = nil
                if countsAsRequest { state.activeRequests -= 1 }
                return record
            }
        }
        let task = Task(operation: work)
        state.inFlight[key] = task
        return task
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

    public var history: [ProbeRecord] { state.withLock { $0.history } }

    public func record(id: Int) -> ProbeRecord? { state.withLock { $0.history.first { $0.id == id } } }

    public func latest(target: String) -> ProbeRecord? { state.withLock { $0.latest[target] } }
}
