import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

/// One thread that drives every Redis socket: epoll(7) over the connections' non-blocking
/// sockets, writes their queued pipelines, feeds what arrives to their bounded reply readers
/// and completes the waiting components' futures, so a Redis probe costs its round trips and
/// no thread of its own. Connection state is touched on the loop thread alone, as with the
/// curl multi loop of `HTTPClient`.
///
/// It is also a `TaskExecutor`: the Redis prober's component tasks prefer it, so a component
/// runs on this thread, queues its pipeline on the connection directly, suspends, and is
/// resumed here when the reply has been read, with no hand-off to another thread and no wake
/// write; the pipelines the components of one probe queue in one turn go out as one write.
/// Nothing that blocks may run here (name resolution, password files, bcrypt stay on
/// `BlockingExecutor`).
public final class RedisEventLoop: TaskExecutor, @unchecked Sendable {
    public static let shared = RedisEventLoop()

    /// An idle connection is closed after this long, a busy one is not given new work past `maxAge`.
    public let idleTimeout: Duration
    public let maxAge: Duration

    private enum Work: Sendable {
        case closure(@Sendable () -> Void)
        case job(UnownedJob)
    }

    /// Jobs run per turn before the sockets are looked at again, so a task that keeps
    /// rescheduling itself cannot starve the connections.
    private static let jobsPerTurn = 1024

    private let wakeRead: Int32
    private let wakeWrite: Int32
    /// Work handed in from other threads; the first one in an empty inbox writes the wake pipe.
    private let inbox = Locked<[Work]>([])
    /// The loop thread's pthread id, set by the loop thread itself before it runs anything.
    private let loopThread = Atomic<UInt>(0)
    private let writeCount = Atomic<Int>(0)

    // Loop thread only.
    private var local: [Work] = []
    private var unflushed: [RedisConnection] = []
    /// Work nobody waits on, run once a turn's writes are out (`afterWrites`).
    private var afterFlush: [(connection: RedisConnection, job: @Sendable () -> Void)] = []
    private var afterFlushSpare: [(connection: RedisConnection, job: @Sendable () -> Void)] = []
    private var connections: [ObjectIdentifier: RedisConnection] = [:]
    private let interest = EpollSet()
    private var watched: [ObjectIdentifier: (fd: Int32, events: Int16)] = [:]
    private var byDescriptor: [Int32: RedisConnection] = [:]
    /// Connections whose state a job or an event may have changed since the last wait.
    private var touched: [RedisConnection] = []
    /// The deadlines of waiting pipelines, earliest first; idle connections cost nothing.
    private var expiries = DeadlineHeap<RedisConnection>()
    /// Each connection's earliest deadline already in `expiries`, so a touch does not add it again.
    private var scheduled: [ObjectIdentifier: ContinuousClock.Instant] = [:]
    /// Jobs handed in swap places with this one, so neither array is allocated again per turn.
    private var inboxSpare: [Work] = []
    private var localSpare: [Work] = []
    private var lastSweep = ContinuousClock.now
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 1)

    public init(idleTimeout: Duration = .seconds(300), maxAge: Duration = .seconds(1800)) {
        self.idleTimeout = idleTimeout
        self.maxAge = maxAge
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { fatalError("cannot create the Redis event loop's wake pipe") }
        for end in ends {
            _ = fcntl(end, F_SETFL, O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = ends[0]
        wakeWrite = ends[1]
        NativeThread.start(name: "redis-loop") { [self] in run() }
    }

    /// Whether the caller runs on the loop thread (a task preferring this executor, or the loop itself).
    public var isCurrentThread: Bool { UInt(bitPattern: Int(bitPattern: pthread_self())) == loopThread.load(ordering: .relaxed) }

    /// How many send(2) calls the loop has made on its connections: for tests.
    public var writes: Int { writeCount.load(ordering: .relaxed) }

    func countWrite() { writeCount.add(1, ordering: .relaxed) }

    public func enqueue(_ job: consuming ExecutorJob) {
        hand(.job(UnownedJob(job)))
    }

    /// Runs `job` on the loop thread, after every job handed in before it.
    func execute(_ job: @escaping @Sendable () -> Void) {
        hand(.closure(job))
    }

    /// Runs `job` now when called on the loop thread (from a task running there), else hands it in.
    func onLoop(_ job: @escaping @Sendable () -> Void) {
        if isCurrentThread { job() } else { hand(.closure(job)) }
    }

    private func hand(_ work: Work) {
        if isCurrentThread {
            local.append(work)
            return
        }
        let wasEmpty = inbox.withLock { queue -> Bool in
            queue.append(work)
            return queue.count == 1
        }
        if wasEmpty {
            var one: UInt8 = 1
            _ = write(wakeWrite, &one, 1)
        }
    }

    /// Runs `job`, a step of `connection`'s, on the loop thread; the loop then updates what it
    /// waits for on that connection's socket.
    func execute(touching connection: RedisConnection, _ job: @escaping @Sendable () -> Void) {
        execute { [self] in
            job()
            touched.append(connection)
        }
    }

    /// `execute(touching:)`, run at once when called on the loop thread.
    func onLoop(touching connection: RedisConnection, _ job: @escaping @Sendable () -> Void) {
        guard isCurrentThread else { return execute(touching: connection, job) }
        job()
        touched.append(connection)
    }

    /// Connections the loop holds open (for tests and the self metrics).
    public var openConnections: Int {
        if isCurrentThread { return connections.count }
        let count = Locked(0)
        let done = DispatchSemaphore(value: 0)
        execute { [self] in
            count.withLock { $0 = connections.count }
            done.signal()
        }
        done.wait()
        return count.current
    }

    // MARK: loop thread

    func register(_ connection: RedisConnection) { connections[ObjectIdentifier(connection)] = connection }

    func unregister(_ connection: RedisConnection) {
        connections[ObjectIdentifier(connection)] = nil
        scheduled[ObjectIdentifier(connection)] = nil
        unwatch(connection)
    }

    /// Before `connection` closes its socket: the number may go to the next socket opened.
    func unwatch(_ connection: RedisConnection) {
        guard let registered = watched.removeValue(forKey: ObjectIdentifier(connection)) else { return }
        if byDescriptor[registered.fd] === connection {
            byDescriptor[registered.fd] = nil
            interest.unwatch(registered.fd)
        }
    }

    /// Brings the epoll registration and the expiries in line with what `connection` waits for.
    private func reconcile(_ connection: RedisConnection) {
        let key = ObjectIdentifier(connection)
        if let deadline = connection.loopNextDeadline, scheduled[key].map({ deadline < $0 }) ?? true {
            scheduled[key] = deadline
            expiries.insert(connection, at: deadline)
        }
        let wanted = connection.loopPollEvents
        let registered = watched[key]
        if let registered, wanted.map({ $0.0 == registered.fd && $0.1 == registered.events }) ?? false { return }
        if let registered, registered.fd != wanted?.0 { unwatch(connection) }
        guard let (fd, events) = wanted else { return }
        interest.watch(fd, events: events, registered: registered?.fd == fd)
        watched[key] = (fd, events)
        byDescriptor[fd] = connection
    }

    /// `connection` has bytes queued: written once this turn's jobs have run, together with
    /// what the other jobs of the turn queue on it.
    func flushAfterJobs(_ connection: RedisConnection) { unflushed.append(connection) }

    /// Runs `job`, a step of `connection`'s that nothing waits on (closing a connection its
    /// component is done with), once this turn's jobs have run and their pipelines are written:
    /// the close of `service_running`'s connection then does not hold up the pipelines of the
    /// components its result just released. Handed in like `execute(touching:)` off the loop.
    func afterWrites(touching connection: RedisConnection, _ job: @escaping @Sendable () -> Void) {
        guard isCurrentThread else { return execute(touching: connection, job) }
        afterFlush.append((connection, job))
    }

    private func runJobs() {
        var ran = 0
        var handed = inboxSpare
        inbox.withLock { swap(&$0, &handed) }
        for work in handed {
            run(work)
            ran += 1
        }
        handed.removeAll(keepingCapacity: true)
        inboxSpare = handed
        while !local.isEmpty && ran < Self.jobsPerTurn {
            var batch = localSpare
            swap(&batch, &local)
            for index in batch.indices {
                guard ran < Self.jobsPerTurn else {
                    local.insert(contentsOf: batch[index...], at: 0)
                    break
                }
                run(batch[index])
                ran += 1
            }
            batch.removeAll(keepingCapacity: true)
            localSpare = batch
        }
        // A connection's flush never queues another, so the list is walked in place.
        for connection in unflushed {
            connection.loopFlushQueued()
            touched.append(connection)
        }
        unflushed.removeAll(keepingCapacity: true)
        var deferred = afterFlushSpare
        swap(&deferred, &afterFlush)
        for (connection, job) in deferred {
            job()
            touched.append(connection)
        }
        deferred.removeAll(keepingCapacity: true)
        afterFlushSpare = deferred
    }

    private func run(_ work: Work) {
        switch work {
        case .closure(let body): body()
        case .job(let job): job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }

    private func run() {
        loopThread.store(UInt(bitPattern: Int(bitPattern: pthread_self())), ordering: .relaxed)
        interest.watch(wakeRead, events: Int16(POLLIN))
        while true {
            runJobs()
            var now = ContinuousClock.now
            if now - lastSweep >= .seconds(1) {
                lastSweep = now
                for connection in Array(connections.values) { connection.loopSweep(now: now, idleTimeout: idleTimeout, maxAge: maxAge) }
            }
            while let connection = expiries.popPassed(now: now) {
                let key = ObjectIdentifier(connection)
                if let deadline = scheduled[key], deadline <= now { scheduled[key] = nil }
                connection.loopExpire(now: now)
                touched.append(connection)
            }
            for connection in touched { reconcile(connection) }
            touched.removeAll(keepingCapacity: true)
            let wake = min(lastSweep + .seconds(1), expiries.earliest ?? lastSweep + .seconds(1))
            now = ContinuousClock.now
            // Round up so the wait does not end just before a deadline and spin; jobs still
            // queued (expiries just resumed, or more than one turn's worth) and closes handed in
            // after the turn's jobs (from an expiry or an event) only get a look at the sockets.
            let millis = !local.isEmpty || !afterFlush.isEmpty ? 0 : wake > now ? Int32(clamping: (wake - now).milliseconds + 1) : 0
            interest.wait(milliseconds: millis) { fd, events in
                if fd == wakeRead {
                    while read(wakeRead, readBuffer.baseAddress, readBuffer.count) > 0 {}
                } else if let connection = byDescriptor[fd] {
                    connection.loopHandle(events)
                    touched.append(connection)
                }
            }
        }
    }
}
