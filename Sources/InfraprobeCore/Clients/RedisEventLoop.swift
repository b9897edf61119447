import Foundation

/// One thread that drives every Redis socket: epoll(7) over the connections' non-blocking
/// sockets, writes their queued pipelines, feeds what arrives to their bounded reply readers
/// and completes the waiting components' futures, so a Redis probe costs its round trips and
/// no thread of its own. Other threads only hand it jobs (`execute`); connection state is
/// touched on the loop thread alone, as with the curl multi loop of `HTTPClient`.
public final class RedisEventLoop: @unchecked Sendable {
    public static let shared = RedisEventLoop()

    /// An idle connection is closed after this long, a busy one is not given new work past `maxAge`.
    public let idleTimeout: Duration
    public let maxAge: Duration

    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let inbox = Locked<[@Sendable () -> Void]>([])

    // Loop thread only.
    private var connections: [ObjectIdentifier: RedisConnection] = [:]
    private let interest = EpollSet()
    private var watched: [ObjectIdentifier: (fd: Int32, events: Int16)] = [:]
    private var byDescriptor: [Int32: RedisConnection] = [:]
    /// Connections whose state a job or an event may have changed since the last wait.
    private var touched: [RedisConnection] = []
    /// Connections with a pipeline waiting, whose deadlines bound the wait; idle ones cost nothing.
    private var busy: [ObjectIdentifier: RedisConnection] = [:]
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
        let thread = Thread { [self] in run() }
        thread.name = "redis-loop"
        thread.start()
    }

    /// Runs `job` on the loop thread, after every job handed in before it.
    func execute(_ job: @escaping @Sendable () -> Void) {
        let wasEmpty = inbox.withLock { queue -> Bool in
            queue.append(job)
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

    /// Connections the loop holds open (for tests and the self metrics).
    public var openConnections: Int {
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
        busy[ObjectIdentifier(connection)] = nil
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

    /// Brings the epoll registration and the busy set in line with what `connection` waits for.
    private func reconcile(_ connection: RedisConnection) {
        let key = ObjectIdentifier(connection)
        busy[key] = connection.loopNextDeadline == nil ? nil : connection
        let wanted = connection.loopPollEvents
        let registered = watched[key]
        if let registered, wanted.map({ $0.0 == registered.fd && $0.1 == registered.events }) ?? false { return }
        if let registered, registered.fd != wanted?.0 { unwatch(connection) }
        guard let (fd, events) = wanted else { return }
        interest.watch(fd, events: events)
        watched[key] = (fd, events)
        byDescriptor[fd] = connection
    }

    private func run() {
        interest.watch(wakeRead, events: Int16(POLLIN))
        while true {
            for job in inbox.withLock({ queue -> [@Sendable () -> Void] in defer { queue = [] }; return queue }) { job() }
            var now = ContinuousClock.now
            if now - lastSweep >= .seconds(1) {
                lastSweep = now
                for connection in Array(connections.values) { connection.loopSweep(now: now, idleTimeout: idleTimeout, maxAge: maxAge) }
            }
            for connection in Array(busy.values) {
                connection.loopExpire(now: now)
                touched.append(connection)
            }
            for connection in touched { reconcile(connection) }
            touched.removeAll(keepingCapacity: true)
            var wake = lastSweep + .seconds(1)
            for connection in busy.values {
                if let deadline = connection.loopNextDeadline { wake = min(wake, deadline) }
            }
            now = ContinuousClock.now
            // Round up so the wait does not end just before a deadline and spin.
            let millis = wake > now ? Int32(clamping: (wake - now).milliseconds + 1) : 0
            for ready in interest.wait(milliseconds: millis) {
                if ready.fd == wakeRead {
                    var drained = [UInt8](repeating: 0, count: 64)
                    while read(wakeRead, &drained, drained.count) > 0 {}
                } else if let connection = byDescriptor[ready.fd] {
                    connection.loopHandle(ready.events)
                    touched.append(connection)
                }
            }
        }
    }
}
