import FoundationEssentials
import Glibc

/// One probe of a target that several scrapes wait on. The probe runs to its own deadline (the
/// target's `timeout`); each scrape is answered at its own deadline from the components finished
/// by then, the others `timeout` in that scrape's answer only, while the probe goes on for the
/// scrapes that wait longer. A scrape still waiting when the probe ends gets the whole result.
final class SharedProbe: ProbeProgress {
    let target: TargetSpec
    let module: String?
    /// The id the finished probe will have in the history (`/logs?id=N`).
    let id: Int
    /// When the probe itself gives up on what has not finished (the target's timeout).
    let deadline: Deadline
    /// The trace the whole probe will be exported as; early answers link to it too.
    let traceID: String?
    private let start = ContinuousClock.now
    private let startedAt = Date().timeIntervalSince1970

    private struct Waiter {
        let continuation: CheckedContinuation<Void, Never>
        var timer: DeadlineTimer.Token?
    }

    private struct State {
        var finished: [String: ComponentResult] = [:]
        var scratch: ProbeScratch?
        var record: ProbeRecord?
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
    }

    private let state = Locked(State())

    /// A scrape whose deadline is not before the probe's waits this much past it for the whole
    /// result: the probe's components are answered at its deadline, and the record follows at once.
    static let completionGrace: Duration = .milliseconds(200)

    init(target: TargetSpec, module: String?, id: Int, deadline: Deadline, traceID: String?) {
        self.target = target
        self.module = module
        self.id = id
        self.deadline = deadline
        self.traceID = traceID
    }

    func began(scratch: ProbeScratch) {
        state.withLock { $0.scratch = scratch }
    }

    func finished(_ result: ComponentResult) {
        state.withLock { $0.finished[result.component] = result }
    }

    /// The whole probe is done: every scrape still waiting gets `record`.
    func complete(_ record: ProbeRecord) {
        let waiters = state.withLock { state -> [Waiter] in
            state.record = record
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters {
            if let timer = waiter.timer { DeadlineTimer.shared.cancel(timer) }
            waiter.continuation.resume()
        }
    }

    /// The probe's result if it has finished by `deadline`; otherwise, at `deadline`, what is known.
    func answer(by deadline: Deadline) async -> ProbeRecord {
        let wakeAt = deadline < self.deadline ? deadline.instant : self.deadline.instant + Self.completionGrace
        if let record = state.withLock({ $0.record }) { return record }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let id = state.withLock { state -> Int? in
                guard state.record == nil else { return nil }
                let id = state.nextWaiter
                state.nextWaiter += 1
                state.waiters[id] = Waiter(continuation: continuation)
                return id
            }
            guard let id else { return continuation.resume() }
            let timer = DeadlineTimer.shared.schedule(at: wakeAt) { [self] in wake(id) }
            let stillWaiting = state.withLock { state -> Bool in
                guard state.waiters[id] != nil else { return false }
                state.waiters[id]?.timer = timer
                return true
            }
            if !stillWaiting { DeadlineTimer.shared.cancel(timer) }
        }
        return state.withLock { state in state.record ?? partialRecord(state, deadline: deadline) }
    }

    private func wake(_ id: Int) {
        let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
        waiter?.continuation.resume()
    }

    private func partialRecord(_ state: State, deadline: Deadline) -> ProbeRecord {
        let elapsed = ContinuousClock.now - start
        let components = target.components.map { name in
            state.finished[name] ?? {
                var late = ComponentResult(component: name, duration: elapsed, failure: ProbeFailure(
                    .timeout, "no answer within this scrape's deadline of \(ComponentRunner.formatSeconds(deadline.instant - start)) (the probe goes on for other scrapes)"))
                late.lastRunAt = startedAt
                return late
            }()
        }
        var result = TargetProbeResult(target: target.name, prober: target.kind, components: components,
                                       facts: state.scratch?.facts.current ?? [], version: state.scratch?.version.current,
                                       duration: elapsed, startedAt: startedAt)
        result.traceID = traceID
        result.runIntervals = ComponentCadence.runIntervals(for: target)
        return ProbeRecord(id: id, result: result, settings: target.redactedSettings, module: module)
    }
}
