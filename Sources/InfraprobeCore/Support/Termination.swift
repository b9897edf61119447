/// The first stop signal, whether it comes before or after someone waits for it.
public final class Termination: Sendable {
    private let state = Locked<(signalled: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    /// True for the first signal.
    public func signal() -> Bool {
        let (first, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !state.signalled else { return (false, nil) }
            state.signalled = true
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        waiter?.resume()
        return first
    }

    public func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.signalled { return true }
                state.waiter = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }
}
