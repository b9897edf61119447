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
/// sitting in CLOSE-WAIT until its timeout.
///
/// Closing is `shutdown(2)` on the socket from the watchdog's queue; libmicrohttpd then sees
/// end-of-stream on its own thread and cleans up as for any client that went away. Entries are
/// removed in MHD's "closed" notification, which runs before MHD closes the descriptor, so a
/// reused descriptor number is never shut down by mistake.
final class ConnectionWatchdog: @unchecked Sendable {
    struct Limits: Sendable {
        var waitLimit: Duration
        var pressureWait: Duration = .seconds(1)
        var minimumWait: Duration = .milliseconds(250)
        var pressureThreshold: Int
        var lowWater: Int
        var sweepInterval: Duration = .milliseconds(100)
    }

    private enum Phase {
        case waiting(since: ContinuousClock.Instant)
        case handling
        case closing
    }

    private struct Entry {
        let fd: Int32
        var phase: Phase
    }

    let limits: Limits
    private let entries = Locked<[Int: Entry]>([:])
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

    func opened(_ key: Int, fd: Int32) {
        entries.withLock { $0[key] = Entry(fd: fd, phase: .waiting(since: .now)) }
    }

    /// A request was handed to a handler: exempt until its response is resumed.
    func handling(_ key: Int) {
        entries.withLock { entries in
            guard let entry = entries[key], case .waiting = entry.phase else { return }
            entries[key]?.phase = .handling
        }
    }

    /// The connection now waits on its client again (response being sent, or idle keep-alive).
    func waiting(_ key: Int) {
        entries.withLock { entries in
            guard let entry = entries[key] else { return }
            if case .closing = entry.phase { return }
            entries[key]?.phase = .waiting(since: .now)
        }
    }

    func closed(_ key: Int) {
        entries.withLock { _ = $0.removeValue(forKey: key) }
    }

    var openConnections: Int { entries.withLock { $0.count } }

    /// Shuts down every connection over its limit; returns how many.
    @discardableResult
    func sweep(now: ContinuousClock.Instant) -> Int {
        entries.withLock { entries -> Int in
            let open = entries.count
            let underPressure = open >= limits.pressureThreshold
            var waiting: [(key: Int, since: ContinuousClock.Instant)] = []
            for (key, entry) in entries {
                if case .waiting(let since) = entry.phase { waiting.append((key, since)) }
            }
            waiting.sort { $0.since < $1.since }
            let hungUp = Self.hungUp(waiting.compactMap { entries[$0.key]?.fd })
            var closed = 0
            for (key, since) in waiting {
                let waited = now - since
                let over = waited >= limits.waitLimit || hungUp.contains(entries[key]?.fd ?? -1)
                    || (underPressure && waited >= limits.minimumWait && (waited >= limits.pressureWait || open - closed > limits.lowWater))
                guard over else { continue }
                if let fd = entries[key]?.fd { _ = shutdown(fd, Int32(SHUT_RDWR)) }
                entries[key]?.phase = .closing
                closed += 1
            }
            return closed
        }
    }

    /// POLLRDHUP: the peer closed (or shut down writing); Glibc does not export the constant.
    private static let peerHangUp: Int16 = 0x2000

    private static func hungUp(_ fds: [Int32]) -> Set<Int32> {
        guard !fds.isEmpty else { return [] }
        var polls = fds.map { pollfd(fd: $0, events: peerHangUp, revents: 0) }
        guard poll(&polls, nfds_t(polls.count), 0) > 0 else { return [] }
        let gone = peerHangUp | Int16(POLLHUP) | Int16(POLLERR)
        return Set(polls.filter { $0.revents & gone != 0 }.map(\.fd))
    }
}
