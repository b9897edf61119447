import Dispatch
import FoundationEssentials
import Glibc

/// Closes connections that keep the server waiting on their client for too long in total:
/// request headers or a body trickled a byte at a time, an idle keep-alive, a response the
/// client does not read. libmicrohttpd's own timeout only measures inactivity, so a client
/// sending one byte every few seconds would otherwise hold its connection forever.
///
/// A connection is "waiting" from the moment it is accepted, its response is resumed, or its
/// previous request completed, until its next request is handed to a handler; while a handler
/// runs it is exempt. Waiting longer than `waitLimit` closes it. When the open connections
/// reach `pressureThreshold` (a flood is filling the connection limit), waiting longer than
/// `pressureWait` is enough, and beyond that the longest-waiting connections are closed down
/// to `lowWater` (sparing those accepted less than `minimumWait` ago). A real client sends its
/// request right after connecting — on a busy server it is usually in the socket before the
/// connection is even accepted — so what is still waiting after that is idle or hostile, and
/// closing it lets the connections queued in the listen backlog in, a new scraper among them.
///
/// A waiting connection whose client has hung up is closed at the next sweep too, rather than
/// sitting in CLOSE-WAIT until its timeout. libmicrohttpd with epoll needs this: it reads a
/// socket until a read comes back short, so end-of-stream that arrived with the last bytes
/// raises no further edge and is never read.
///
/// A sweep costs what it closes, not what is open (10,000 kept-alive scrape connections are
/// the normal case): waiting connections are kept in the order they started waiting, so the
/// sweep stops at the first one not over its limit, and hang-ups are reported by an epoll set
/// of their own (EPOLLRDHUP, once per connection) instead of a poll of every socket.
///
/// Closing is `shutdown(2)` on the socket from the watchdog's queue; libmicrohttpd then sees
/// end-of-stream (with epoll, a hang-up event) on its own thread and cleans up as for any
/// client that went away. Entries are removed in MHD's "closed" notification, which runs
/// before MHD closes the descriptor, so a reused descriptor number is never shut down (nor
/// reported hung up) by mistake.
final class ConnectionWatchdog: @unchecked Sendable {
    struct Limits: Sendable {
        var waitLimit: Duration
        var pressureWait: Duration = .seconds(1)
        var minimumWait: Duration = .milliseconds(250)
        var pressureThreshold: Int
        var lowWater: Int
        var sweepInterval: Duration = .milliseconds(100)
        /// Below the connection limit, a sweep closes at most this many for waiting too long
        /// (hang-ups aside): libmicrohttpd cleans up every connection shut down in one run of
        /// its thread, and thousands at once (a limit sized to 10,000 kept-alive scrapers stays
        /// under pressure, and every idle one was closed at once each time it refilled) stalled
        /// it for a quarter of a second. Within this many of the limit, new clients are about to
        /// wait in the backlog: no pace.
        var closesPerSweep: Int = .max
        var connectionLimit: Int = .max

        /// Further below the limit than one sweep's pace: closes are paced.
        func paced(open: Int) -> Bool { open < connectionLimit - closesPerSweep }
    }

    let limits: Limits
    private let state = Locked(WatchState())
    /// Hang-ups of the tracked sockets; only read with `state` locked, so an event is never
    /// for a socket that `closed` has already forgotten.
    private let hangUps = EpollSet()
    private let queue = DispatchQueue(label: "infraprobe.http.watchdog")
    private var timer: DispatchSourceTimer?

    init(limits: Limits) { self.limits = limits }

    func start() {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let interval = DispatchTimeInterval.milliseconds(Int(limits.sweepInterval.milliseconds))
        timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(20))
        timer.setEventHandler { [weak self] in _ = self?.sweep(now: .now) }
        timer.resume()
        self.timer = timer
    }

    func stop() {
        timer?.cancel()
        timer = nil
    }

    /// POLLRDHUP / EPOLLRDHUP: the peer closed (or shut down writing); Glibc does not export it.
    private static let peerHangUp: Int16 = 0x2000

    func opened(_ key: Int, fd: Int32) {
        state.withLock { state in
            state.open(key, fd: fd, now: .now)
            hangUps.watch(fd, events: Self.peerHangUp, once: true)
        }
    }

    /// A request was handed to a handler: exempt until its response is resumed.
    func handling(_ key: Int) {
        state.withLock { $0.handling(key) }
    }

    /// The connection now waits on its client again (response being sent, or idle keep-alive).
    func waiting(_ key: Int) {
        state.withLock { $0.waiting(key, now: .now) }
    }

    func closed(_ key: Int) {
        state.withLock { state in
            if let fd = state.close(key) { hangUps.unwatch(fd) }
        }
    }

    var openConnections: Int { state.withLock { $0.openCount } }

    /// Shuts down every connection over its limit, and every waiting one whose client hung up;
    /// returns how many. Each shutdown happens with `state` locked (so the descriptor is still
    /// the connection's), but at most `shutdownsPerLock` of them per hold: libmicrohttpd's
    /// callbacks take the same lock, and a sweep closing thousands of idle keep-alive
    /// connections under one hold (~80 µs each) stopped the HTTP thread for a quarter of a
    /// second, long enough for 60 scrapes to pile up and overflow `--web.max-requests`.
    @discardableResult
    func sweep(now: ContinuousClock.Instant) -> Int {
        let open = state.withLock { state -> Int in
            // Every socket is watched once: a wait that reports none has drained them.
            var reported = true
            while reported {
                reported = false
                hangUps.wait(milliseconds: 0) { fd, _ in
                    reported = true
                    state.hungUp(fd: fd)
                }
            }
            return state.openCount
        }
        let underPressure = open >= limits.pressureThreshold
        // Hang-ups are not paced: their clients are gone, and their descriptors come back at once.
        let overAllowed = limits.paced(open: open) ? limits.closesPerSweep : .max
        var closed = 0, closedOver = 0
        var hangUpsLeft = true, overLeft = true
        while hangUpsLeft || overLeft {
            let (hungUp, over) = state.withLock { state -> (Int, Int) in
                let hungUp = state.takeHungUpWaiting(atMost: Self.shutdownsPerLock)
                for fd in hungUp { _ = shutdown(fd, Int32(SHUT_RDWR)) }
                hangUpsLeft = hungUp.count == Self.shutdownsPerLock
                let room = overLeft ? min(Self.shutdownsPerLock - hungUp.count, overAllowed - closedOver) : 0
                var over = 0
                while over < room, let (fd, since) = state.oldestWaiting {
                    let waited = now - since
                    let isOver = waited >= limits.waitLimit
                        || (underPressure && waited >= limits.minimumWait
                            && (waited >= limits.pressureWait || open - closed - hungUp.count - over > limits.lowWater))
                    guard isOver else { overLeft = false; break }
                    state.closeOldestWaiting()
                    _ = shutdown(fd, Int32(SHUT_RDWR))
                    over += 1
                }
                if state.oldestWaiting == nil || closedOver + over >= overAllowed { overLeft = false }
                return (hungUp.count, over)
            }
            closed += hungUp + over
            closedOver += over
        }
        return closed
    }

    static let shutdownsPerLock = 32
}
