import FoundationEssentials

/// Runs blocking C calls (getaddrinfo for Redis host names, bcrypt) on dedicated threads so
/// they never stall Swift's cooperative pool. Threads are reused while work keeps coming and
/// exit after idling. At most `maxThreads` exist: further work waits in a queue of at most
/// `maxQueued` jobs, and a job that cannot start before its deadline is refused instead of
/// being given another thread, so a burst of hung services costs a bounded number of threads.
///
/// Refusals are `ProbeFailure`s: `resource_exhausted` when the queue is full, `timeout` when
/// the deadline passes while the job waits for a thread.
public final class BlockingExecutor: @unchecked Sendable {
    /// Probes no longer block a thread each (Redis and HTTP run on event loops); what is left is
    /// name resolution, a few milliseconds per lookup, so a small pool keeps the process's
    /// thread count fixed however many targets it probes.
    public static let defaultMaxThreads = 16
    public static let defaultMaxQueued = 4096
    public static let shared = BlockingExecutor()

    public let maxThreads: Int
    public let maxQueued: Int
    private let idleTimeout: TimeInterval
    private let condition = PthreadCondition()
    private var jobs: [UInt64: Job] = [:]
    /// Job ids in submission order; ids of jobs already taken or refused are skipped.
    private var order: [UInt64] = []
    private var orderHead = 0
    private var nextID: UInt64 = 0
    private var idleThreads = 0
    private var threadCount = 0

    private struct Job {
        let deadline: ContinuousClock.Instant?
        let start: @Sendable () -> Void
        let refuse: @Sendable (ProbeFailure) -> Void
        var timer: DeadlineTimer.Token?
    }

    public init(maxThreads: Int = defaultMaxThreads, maxQueued: Int = defaultMaxQueued, idleTimeout: TimeInterval = 30) {
        precondition(maxThreads > 0 && maxQueued >= 0)
        self.maxThreads = maxThreads
        self.maxQueued = maxQueued
        self.idleTimeout = idleTimeout
    }

    /// Threads that exist now, busy or idle.
    public var threads: Int {
        condition.lock()
        defer { condition.unlock() }
        return threadCount
    }

    /// Threads running a job (or about to) now.
    public var busy: Int {
        condition.lock()
        defer { condition.unlock() }
        return threadCount - idleThreads
    }

    /// Jobs waiting for a thread.
    public var queued: Int {
        condition.lock()
        defer { condition.unlock() }
        return jobs.count
    }

    /// Runs `work` on a blocking thread if one can take it before `deadline`.
    public func run<T: Sendable>(before deadline: Deadline, _ work: @escaping @Sendable () -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            submit(deadline: deadline.instant,
                   start: { continuation.resume(returning: work()) },
                   refuse: { continuation.resume(throwing: $0) })
        }
    }

    /// Runs `work` however long it waits for a thread, past the queue bound too: only for
    /// callers that are themselves the bound (shutdown, tests), never for outside-driven work.
    public func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            submit(deadline: nil, start: { continuation.resume(returning: work()) }, refuse: { _ in })
        }
    }

    private func submit(deadline: ContinuousClock.Instant?, start: @escaping @Sendable () -> Void,
                        refuse: @escaping @Sendable (ProbeFailure) -> Void) {
        if let deadline, deadline <= .now {
            refuse(ProbeFailure(.timeout, "the deadline passed before a blocking thread was asked for"))
            return
        }
        condition.lock()
        let waiting = jobs.count
        if idleThreads > waiting {
            enqueue(Job(deadline: deadline, start: start, refuse: refuse, timer: nil))
            condition.signal()
            condition.unlock()
            return
        }
        if threadCount < maxThreads {
            threadCount += 1
            enqueue(Job(deadline: deadline, start: start, refuse: refuse, timer: nil))
            condition.unlock()
            NativeThread.start(name: "infraprobe-blocking", stackSize: 512 * 1024) { [self] in workerLoop() }
            return
        }
        guard let deadline else {
            enqueue(Job(deadline: nil, start: start, refuse: refuse, timer: nil))
            condition.unlock()
            return
        }
        guard waiting < maxQueued else {
            condition.unlock()
            refuse(ProbeFailure(.resourceExhausted, "all \(maxThreads) blocking threads are busy and \(maxQueued) jobs wait for one"))
            return
        }
        let id = enqueue(Job(deadline: deadline, start: start, refuse: refuse, timer: nil))
        condition.unlock()
        // Scheduled outside the lock: the timer may fire at once, and expire() takes the lock.
        let timer = DeadlineTimer.shared.schedule(at: deadline) { [self] in expire(id) }
        condition.lock()
        jobs[id]?.timer = timer
        condition.unlock()
    }

    @discardableResult
    private func enqueue(_ job: Job) -> UInt64 {
        nextID += 1
        jobs[nextID] = job
        order.append(nextID)
        return nextID
    }

    /// A queued job whose deadline came before a thread did.
    private func expire(_ id: UInt64) {
        condition.lock()
        let job = jobs.removeValue(forKey: id)
        condition.unlock()
        job?.refuse(ProbeFailure(.timeout, "no blocking thread became free before the deadline (all \(maxThreads) busy)"))
    }

    /// The oldest job still waiting; called with the lock held.
    private func takeNext() -> Job? {
        while orderHead < order.count {
            let id = order[orderHead]
            orderHead += 1
            if let job = jobs.removeValue(forKey: id) {
                compactOrder()
                return job
            }
        }
        compactOrder()
        return nil
    }

    private func compactOrder() {
        if orderHead == order.count {
            order.removeAll(keepingCapacity: order.count < 1024)
            orderHead = 0
        } else if orderHead > 1024 && orderHead * 2 > order.count {
            order.removeFirst(orderHead)
            orderHead = 0
        }
    }

    private func workerLoop() {
        condition.lock()
        while true {
            if let job = takeNext() {
                condition.unlock()
                if let timer = job.timer { DeadlineTimer.shared.cancel(timer) }
                if let deadline = job.deadline, deadline <= .now {
                    job.refuse(ProbeFailure(.timeout, "no blocking thread became free before the deadline (all \(maxThreads) busy)"))
                } else {
                    job.start()
                }
                condition.lock()
                continue
            }
            idleThreads += 1
            let signalled = condition.wait(timeout: .seconds(idleTimeout))
            idleThreads -= 1
            if !signalled && jobs.isEmpty {
                threadCount -= 1
                condition.unlock()
                return
            }
        }
    }
}
