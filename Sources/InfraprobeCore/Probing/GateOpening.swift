/// When the components behind `service_running` may start: when it has finished, or sooner,
/// when it tells the runner that the service answered its connect
/// (`ComponentContext.serviceReached()`). That rules out every failure that keeps them from
/// being attempted (connection refused, DNS, a connect that hangs), so they need not also
/// wait for the gate's own round trip.
final class GateOpening: Sendable {
    enum Verdict: Sendable {
        case reached
        case finished(ComponentResult)
    }

    private let state = Locked<(verdict: Verdict?, waiters: [CheckedContinuation<Verdict, Never>])>((nil, []))

    /// The first verdict stands; later ones are ignored.
    func open(_ verdict: Verdict) {
        let waiters = state.withLock { state -> [CheckedContinuation<Verdict, Never>] in
            guard state.verdict == nil else { return [] }
            state.verdict = verdict
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: verdict) }
    }

    func verdict() async -> Verdict {
        await withCheckedContinuation { continuation in
            let known = state.withLock { state -> Verdict? in
                if state.verdict == nil { state.waiters.append(continuation) }
                return state.verdict
            }
            if let known { continuation.resume(returning: known) }
        }
    }
}
