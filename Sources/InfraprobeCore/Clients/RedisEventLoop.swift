import CShims
import Foundation
import Synchronization

/// One thread that drives every Redis socket: epoll over the connections' non-blocking
/// sockets (a turn costs the sockets that are ready, not every pooled connection), writes their queued pipelines, feeds what arrives to their bounded reply readers
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

    private let epoll: Int32
    private let wake: Int32
    /// Work handed in from other threads; the first one in an empty inbox writes the wake pipe.
    private let inbox = Locked<[Work]>([])
    /// The loop thread's pthread id, set by the loop thread itself before it runs anything.
    private let loopThread = Atomic<UInt>(0)
    private let writeCount = Atomic<Int>(0)

    // Loop thread only.
    private var local: [Work] = []
    private var unflushed: [RedisConnection] = []
    private var connections: [ObjectIdentifier: RedisConnection] = [:]
    /// Each socket's epoll watch is reported with a token of its own (0 is the wake-up): an
    /// event left over for a socket closed earlier in the same turn finds no connection.
    private var watches: [UInt64: RedisConnection] = [:]
    private var nextToken: UInt64 = 1
    private var lastSweep = ContinuousClock.now
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 1)

    public init(idleTimeout: Duration = .seconds(300), maxAge: Duration = .seconds(1800)) {
        self.idleTimeout = idleTimeout
        self.maxAge = maxAge
        epoll = cshim_epoll_create()
        wake = cshim_eventfd()
        guard epoll >= 0, wake >= 0, cshim_epoll_watch(epoll, wake, UInt32(POLLIN), 0, 0) == 0 else {
            fatalError("cannot create the Redis event loop's epoll instance and wake-up eventfd")
        }
        let thread = Thread { [self] in run() }
        thread.name = "redis-loop"
        thread.start()
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
            var one: UInt64 = 1
            _ = write(wake, &one, 8)
        }
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
    func unregister(_ connection: RedisConnection) { connections[ObjectIdentifier(connection)] = nil }

    /// Watches `fd` for `connection`: under `token` when it has one, else under a new one.
    /// Nil when epoll refuses (out of memory, or the watch limit).
    func watch(_ connection: RedisConnection, fd: Int32, events: Int16, token: UInt64?) -> UInt64? {
        let assigned = token ?? nextToken
        guard cshim_epoll_watch(epoll, fd, UInt32(UInt16(bitPattern: events)), assigned, token == nil ? 0 : 1) == 0 else { return nil }
        if token == nil {
            nextToken += 1
            watches[assigned] = connection
        }
        return assigned
    }

    /// The watch's socket is closed (which ends the epoll watch): its token reports nothing more.
    func forgetWatch(_ token: UInt64) { watches[token] = nil }

    /// `connection` has bytes queued: written once this turn's jobs have run, together with
    /// what the other jobs of the turn queue on it.
    func flushAfterJobs(_ connection: RedisConnection) { unflushed.append(connection) }

    private func runJobs() {
        var ran = 0
        for work in inbox.withLock({ queue -> [Work] in defer { queue = [] }; return queue }) {
            run(work)
            ran += 1
        }
        while !local.isEmpty && ran < Self.jobsPerTurn {
            let batch = local
            local = []
            for (index, work) in batch.enumerated() {
                guard ran < Self.jobsPerTurn else {
                    local.insert(contentsOf: batch[index...], at: 0)
                    break
                }
                run(work)
                ran += 1
            }
        }
        let connections = unflushed
        unflushed.removeAll(keepingCapacity: true)
        for connection in connections { connection.loopFlushQueued() }
    }

    private func run(_ work: Work) {
        switch work {
        case .closure(let body): body()
        case .job(let job): job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }

    private func run() {
        loopThread.store(UInt(bitPattern: Int(bitPattern: pthread_self())), ordering: .relaxed)
        var tokens = [UInt64](repeating: 0, count: 64)
        var events = [UInt32](repeating: 0, count: 64)
        while true {
            runJobs()
            var now = ContinuousClock.now
            if now - lastSweep >= .seconds(1) {
                lastSweep = now
                for connection in Array(connections.values) { connection.loopSweep(now: now, idleTimeout: idleTimeout, maxAge: maxAge) }
            }
            var wakeAt = lastSweep + .seconds(1)
            for connection in Array(connections.values) {
                connection.loopExpire(now: now)
                if let deadline = connection.loopNextDeadline { wakeAt = min(wakeAt, deadline) }
                connection.loopSyncWatch()
            }
            now = ContinuousClock.now
            // Round up so the wait does not end just before a deadline and spin; jobs still
            // queued (expiries just resumed, or more than one turn's worth) only get a look at the sockets.
            let millis = !local.isEmpty ? 0 : wakeAt > now ? Int32(clamping: (wakeAt - now).milliseconds + 1) : 0
            let ready = cshim_epoll_wait(epoll, &tokens, &events, Int32(tokens.count), millis)
            guard ready > 0 else { continue }
            for index in 0..<Int(ready) {
                if tokens[index] == 0 {
                    var count: UInt64 = 0
                    _ = read(wake, &count, 8)
                } else if let connection = watches[tokens[index]] {
                    connection.loopHandle(Int16(truncatingIfNeeded: events[index]))
                }
            }
        }
    }
}
