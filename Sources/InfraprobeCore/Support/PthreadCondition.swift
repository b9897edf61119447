import Glibc

/// A mutex with one condition variable, in place of Foundation's NSCondition. Timed waits run on
/// CLOCK_MONOTONIC, so a wall-clock step neither cuts a wait short nor stretches it.
public final class PthreadCondition: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let cond: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        cond = .allocate(capacity: 1)
        cond.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        let mutexResult = pthread_mutex_init(mutex, nil)
        let condResult = pthread_cond_init(cond, &attributes)
        pthread_condattr_destroy(&attributes)
        precondition(mutexResult == 0 && condResult == 0, "pthread condition init failed: \(mutexResult), \(condResult)")
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    public func signal() { pthread_cond_signal(cond) }
    public func broadcast() { pthread_cond_broadcast(cond) }

    /// Waits, with the lock held, until signalled (or woken spuriously).
    public func wait() { pthread_cond_wait(cond, mutex) }

    /// Waits, with the lock held, at most `timeout`; false when the time ran out first.
    @discardableResult
    public func wait(timeout: Duration) -> Bool {
        guard timeout > .zero else { return false }
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let (seconds, attoseconds) = timeout.components
        // Capped at a day: longer waits are woken by their caller's loop anyway, and the cap keeps
        // tv_sec far from overflow whatever the caller passes.
        let cappedSeconds = min(seconds, 86_400)
        let nanoseconds = Int(deadline.tv_nsec) + Int(attoseconds / 1_000_000_000)
        deadline.tv_sec += Int(cappedSeconds) + nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        return pthread_cond_timedwait(cond, mutex, &deadline) != ETIMEDOUT
    }
}
