import FoundationEssentials
import Glibc

/// Runs one target's component checks concurrently under one deadline (DESIGN §4).
/// A check that has not finished at the deadline is reported as `timeout`; a check whose
/// dependency failed, or whose service is unreachable, is reported as `dependency_failed`
/// without being attempted. The others start when `service_running` has finished, or as soon
/// as it says the service accepted its connection (`GateOpening`).
public enum ComponentRunner {
    public static let gateComponent = "service_running"

    public static func run(target: TargetSpec, deadline: Deadline, environment: ProberEnvironment) async -> TargetProbeResult {
        await run(target: target, deadline: deadline, environment: environment, cache: [:], progress: nil)
    }

    /// `cache` holds the component's last results (`ComponentCadence` decides which are served);
    /// `progress` sees each component's result the moment it is known, for scrapes that answer
    /// before the whole probe has finished.
    static func run(target: TargetSpec, deadline: Deadline, environment: ProberEnvironment,
                    cache: [String: ComponentResult], progress: (any ProbeProgress)?) async -> TargetProbeResult {
        // On the prober's executor (the Redis loop) whoever the caller is: the components are
        // created in one job there, so none can start a turn after the gate has already passed
        // (their pipelines share one write), and a busy cooperative pool cannot hold them back.
        await withTaskExecutorPreference(target.prober.executorPreference) {
            await orchestrate(target: target, deadline: deadline, environment: environment, cache: cache, progress: progress)
        }
    }

    private static func orchestrate(target: TargetSpec, deadline: Deadline, environment: ProberEnvironment,
                                    cache: [String: ComponentResult], progress: (any ProbeProgress)?) async -> TargetProbeResult {
        let startedAt = Date().timeIntervalSince1970
        let start = ContinuousClock.now
        let scratch = ProbeScratch(nonce: environment.nonce(), instanceID: environment.instanceID,
                                   prober: target.kind, cleanupLedger: environment.cleanupLedger)
        progress?.began(scratch: scratch)
        let checks = Dictionary(target.prober.checks().map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let order = executionOrder(enabled: target.components, checks: checks)
        let served = ComponentCadence.served(order: order, checks: checks, every: target.every, cache: cache, now: startedAt)

        let executor = target.prober.executorPreference
        var tasks: [String: Task<ComponentResult, Never>] = [:]
        for name in order {
            guard let check = checks[name] else { continue }
            let gate = (name != gateComponent) ? tasks[gateComponent] : nil
            let dependencies = check.dependencies.compactMap { dependency in tasks[dependency].map { (dependency, $0) } }
            let context = ComponentContext(component: name, deadline: deadline, target: target.name, probe: scratch)
            let cached = served[name]
            tasks[name] = Task(executorPreference: executor) {
                if var cached {
                    // Its group is fresh, so no dependency runs now; only a gate that finds the
                    // service unreachable in this probe overrides the cached outcome.
                    if let gate, let failure = await gate.value.failure, failure.reason.meansServiceUnreachable {
                        cached = notAttempted(name, gate: failure)
                        cached.startOffset = ContinuousClock.now - start
                        cached.lastRunAt = startedAt + cached.startOffset.seconds
                    } else {
                        cached.servedFromCache = true
                    }
                    if name == gateComponent { scratch.gateOpening.open(.finished(cached)) }
                    progress?.finished(cached)
                    return cached
                }
                var result = await runAfterDependencies(check, gate: gate, dependencies: dependencies, context: context, executor: executor)
                if name == gateComponent { scratch.gateOpening.open(.finished(result)) }
                result.startOffset = ContinuousClock.now - start - result.duration
                result.lastRunAt = startedAt + result.startOffset.seconds
                progress?.finished(result)
                return result
            }
        }

        var results: [ComponentResult] = []
        for name in target.components {
            if let task = tasks[name] {
                results.append(await task.value)
            } else {
                results.append(ComponentResult(component: name, duration: .zero,
                                               failure: ProbeFailure(.protocol, "prober has no check named \(name)")))
            }
        }
        var result = TargetProbeResult(
            target: target.name, prober: target.kind, components: results,
            facts: scratch.facts.current, version: scratch.version.current,
            duration: ContinuousClock.now - start, startedAt: startedAt)
        if !target.every.isEmpty {
            result.runIntervals = ComponentCadence.runIntervals(order: order, checks: checks, every: target.every)
        }
        return result
    }

    static func notAttempted(_ name: String, gate failure: ProbeFailure) -> ComponentResult {
        ComponentResult(component: name, duration: .zero, failure: ProbeFailure(
            .dependencyFailed, "not attempted: \(gateComponent) failed (\(failure.reason.rawValue))"))
    }

    /// What a check's thrown error means as a component failure; nil for cancellation.
    static func failure(from error: any Error) -> ProbeFailure? {
        switch error {
        case let failure as ProbeFailure: failure
        case is CancellationError: nil
        default: ProbeFailure(.unexpectedResponse, String(describing: error))
        }
    }

    /// Enabled checks plus the disabled ones they depend on, dependencies first.
    static func executionOrder(enabled: [String], checks: [String: ComponentCheck]) -> [String] {
        var order: [String] = []
        var visiting: Set<String> = []
        func visit(_ name: String) {
            guard !order.contains(name), !visiting.contains(name), let check = checks[name] else { return }
            visiting.insert(name)
            check.dependencies.forEach(visit)
            order.append(name)
        }
        if checks[gateComponent] != nil { visit(gateComponent) }
        enabled.forEach(visit)
        return order
    }

    /// A check whose gate or dependency failed is not attempted; otherwise it runs.
    static func runAfterDependencies(_ check: ComponentCheck, gate: Task<ComponentResult, Never>?,
                                     dependencies: [(String, Task<ComponentResult, Never>)], context: ComponentContext,
                                     executor: (any TaskExecutor)? = nil) async -> ComponentResult {
        let name = check.name
        var startedBeforeGateFinished = false
        if gate != nil {
            switch await context.probe.gateOpening.verdict() {
            case .finished(let result):
                if let failure = result.failure, failure.reason.meansServiceUnreachable { return notAttempted(name, gate: failure) }
            case .reached:
                startedBeforeGateFinished = true
            }
        }
        let result = await runAfterDependencies(check, dependencies: dependencies, context: context, executor: executor)
        // Started once the service accepted the gate's connection: if the gate then found it
        // unreachable after all (it accepts but never answers), that is this failure's cause too.
        guard startedBeforeGateFinished, let ownFailure = result.failure, let gate,
              let failure = await gate.value.failure, failure.reason.meansServiceUnreachable else { return result }
        return ComponentResult(component: name, duration: result.duration, failure: ProbeFailure(
            .dependencyFailed, "\(gateComponent) failed (\(failure.reason.rawValue)) while this ran: \(ownFailure.message)"),
            steps: result.steps)
    }

    private static func runAfterDependencies(_ check: ComponentCheck, dependencies: [(String, Task<ComponentResult, Never>)],
                                             context: ComponentContext, executor: (any TaskExecutor)?) async -> ComponentResult {
        let name = check.name
        for (dependency, task) in dependencies {
            if let failure = await task.value.failure {
                return ComponentResult(component: name, duration: .zero, failure: ProbeFailure(
                    .dependencyFailed, "not attempted: \(dependency) failed (\(failure.reason.rawValue))", hop: failure.hop))
            }
        }
        return await runBeforeDeadline(check, context: context, executor: executor)
    }

    static func runBeforeDeadline(_ check: ComponentCheck, context: ComponentContext,
                                  executor: (any TaskExecutor)? = nil) async -> ComponentResult {
        let start = ContinuousClock.now
        let deadline = context.deadline
        let budget = deadline.remaining
        let outcome: ProbeFailure? = await withCheckedContinuation { (continuation: CheckedContinuation<ProbeFailure?, Never>) in
            // Whichever ends first, the check or the deadline, answers; the other is cancelled.
            let race = Locked<(done: Bool, timer: DeadlineTimer.Token?)>((false, nil))
            let finish: @Sendable (ProbeFailure?) -> Void = { answer in
                let timer = race.withLock { state -> DeadlineTimer.Token?? in
                    guard !state.done else { return nil }
                    state.done = true
                    return .some(state.timer)
                }
                guard let timer else { return }
                if let timer { DeadlineTimer.shared.cancel(timer) }
                continuation.resume(returning: answer)
            }
            // An unstructured task does not inherit the preference: it is passed on.
            let work = Task(executorPreference: executor) {
                do {
                    try await ComponentContext.$current.withValue(context) { try await check.run(context) }
                    finish(nil)
                } catch is CancellationError {
                    finish(context.recordedFailure ?? ProbeFailure(.timeout, "cancelled at the deadline"))
                } catch {
                    finish(Self.failure(from: error) ?? ProbeFailure(.timeout, "cancelled at the deadline"))
                }
            }
            let timer = DeadlineTimer.shared.schedule(at: deadline.instant) {
                // A failure the check recorded before its cleanup began is the answer, not the deadline.
                finish(context.recordedFailure
                       ?? ProbeFailure(.timeout, "no answer within the probe deadline of \(formatSeconds(budget))"))
                work.cancel()
            }
            let alreadyDone = race.withLock { state -> Bool in
                if !state.done { state.timer = timer }
                return state.done
            }
            if alreadyDone { DeadlineTimer.shared.cancel(timer) }
        }
        return ComponentResult(component: check.name, duration: ContinuousClock.now - start,
                               failure: outcome, steps: context.steps)
    }

    /// `0.001234s`; hand-rolled because String(format:) is slow on the probe's hot path.
    static func formatSeconds(_ duration: Duration) -> String {
        let micros = max(0, duration.microseconds)
        let fraction = String(micros % 1_000_000)
        return "\(micros / 1_000_000).\(String(repeating: "0", count: 6 - fraction.count))\(fraction)s"
    }
}
