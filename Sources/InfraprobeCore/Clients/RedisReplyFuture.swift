import FoundationEssentials
import Dispatch

/// The replies to one pipeline, filled in by the event loop: awaited by a component, or
/// waited for by a plain thread (test helpers). Completes exactly once.
public final class RedisReplyFuture: Sendable {
    public typealias Outcome = Result<[RedisValue], RedisClientError>

    private enum State {
        case pending([@Sendable (Outcome) -> Void])
        case done(Outcome)
    }

    private let state = Locked<State>(.pending([]))

    init() {}

    static func failed(_ error: RedisClientError) -> RedisReplyFuture {
        let future = RedisReplyFuture()
        future.complete(.failure(error))
        return future
    }

    func complete(_ outcome: Outcome) {
        let waiting = state.withLock { state -> [@Sendable (Outcome) -> Void] in
            guard case .pending(let callbacks) = state else { return [] }
            state = .done(outcome)
            return callbacks
        }
        waiting.forEach { $0(outcome) }
    }

    func whenDone(_ callback: @escaping @Sendable (Outcome) -> Void) {
        let ready = state.withLock { state -> Outcome? in
            switch state {
            case .done(let outcome): return outcome
            case .pending(let callbacks):
                state = .pending(callbacks + [callback])
                return nil
            }
        }
        if let ready { callback(ready) }
    }

    public func value() async throws(RedisClientError) -> [RedisValue] {
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
            whenDone { continuation.resume(returning: $0) }
        }
        return try outcome.get()
    }

    /// Blocks the calling thread: for code outside Swift concurrency only.
    public func wait() throws(RedisClientError) -> [RedisValue] {
        let done = DispatchSemaphore(value: 0)
        let result = Locked<Outcome?>(nil)
        whenDone { outcome in
            result.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        return try result.current!.get()
    }
}
