import FoundationEssentials
import Glibc
import Dispatch

/// One thread that drives every Redis socket: poll(2) over the connections' non-blocking
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
    func unregister(_ connection: RedisConnection) { connections[ObjectIdentifier(connection)] = nil }

    private func run() {
        var entries: [pollfd] = []
        var owners: [RedisConnection] = []
        while true {
            for job in inbox.withLock({ queue -> [@Sendable () -> Void] in defer { queue = [] }; return queue }) { job() }
            var now = ContinuousClock.now
            if now - lastSweep >= .seconds(1) {
                lastSweep = now
                for connection in Array(connections.values) { connection.loopSweep(now: now, idleTimeout: idleTimeout, maxAge: maxAge) }
            }
            var wake = lastSweep + .seconds(1)
            entries.removeAll(keepingCapacity: true)
            owners.removeAll(keepingCapacity: true)
            entries.append(pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0))
            for connection in Array(connections.values) {
                connection.loopExpire(now: now)
                if let deadline = connection.loopNextDeadline { wake = min(wake, deadline) }
                if let (fd, events) = connection.loopPollEvents {
                    entries.append(pollfd(fd: fd, events: events, revents: 0))
                    owners.append(connection)
                }
            }
            now = ContinuousClock.now
            // Round up so the wait does not end just before a deadline and spin.
            let millis = wake > now ? Int32(clamping: (wake - now).milliseconds + 1) : 0
            let ready = poll(&entries, nfds_t(entries.count), millis)
            guard ready > 0 else { continue }
            if entries[0].revents != 0 {
                var drained = [UInt8](repeating: 0, count: 64)
                while read(wakeRead, &drained, drained.count) > 0 {}
            }
            for index in 1..<entries.count where entries[index].revents != 0 {
                owners[index - 1].loopHandle(entries[index].revents)
            }
        }
    }
}
