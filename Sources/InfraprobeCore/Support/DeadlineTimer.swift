/// Runs an action at an instant unless cancelled first. One thread serves every pending
/// deadline, and a cancelled entry is freed at once: `Task.sleep` on Linux keeps each
/// cancelled sleeper's memory until its original deadline, which under load piles up
/// (one per component per probe, held for the whole probe timeout).
public final class DeadlineTimer: @unchecked Sendable {
    public static let shared = DeadlineTimer()

    private let condition = PthreadCondition()
    private var entries: [UInt64: (instant: ContinuousClock.Instant, action: @Sendable () -> Void)] = [:]
    private var nextID: UInt64 = 0
    private var started = false
    /// The instant the timer thread is currently sleeping until (nil: sleeping indefinitely).
    private var wakeAt: ContinuousClock.Instant?

    public struct Token: Sendable { fileprivate let id: UInt64 }

    @discardableResult
    public func schedule(at instant: ContinuousClock.Instant, _ action: @escaping @Sendable () -> Void) -> Token {
        condition.lock()
        defer { condition.unlock() }
        nextID += 1
        entries[nextID] = (instant, action)
        if !started {
            started = true
            NativeThread.start(name: "infraprobe-deadlines") { [self] in run() }
        }
        // Most deadlines fall after the one the thread already waits for: no need to wake it.
        if wakeAt.map({ instant < $0 }) ?? true { condition.signal() }
        return Token(id: nextID)
    }

    public func cancel(_ token: Token) {
        condition.lock()
        entries[token.id] = nil
        condition.unlock()
    }

    private func run() {
        condition.lock()
        while true {
            guard let (id, next) = entries.min(by: { $0.value.instant < $1.value.instant }) else {
                wakeAt = nil
                condition.wait()
                continue
            }
            let now = ContinuousClock.now
            if next.instant <= now {
                entries[id] = nil
                condition.unlock()
                next.action()
                condition.lock()
            } else {
                wakeAt = next.instant
                condition.wait(timeout: next.instant - now)
            }
        }
    }
}
