import FoundationEssentials
import Glibc

/// The probe traces a Tempo target pushed on earlier probes, so `trace_search` can look for one
/// old enough to be searchable. Tempo's search walks cut blocks only: a trace appears 5–10 s
/// (3.x live-store) or 10–20 s (2.x ingester) after its push, longer than a scrape timeout allows
/// to wait for the trace just pushed. Lives as long as the target's prober (a reload starts over).
public final class TempoSearchMemory: Sendable {
    public struct Trace: Sendable, Equatable {
        public let id: String
        public let nonce: String
        /// Unix seconds of the push (for the search window).
        public let pushedUnix: Int
        /// When it was pushed, for its age.
        public let pushed: ContinuousClock.Instant
    }

    static let capacity = 16
    private let traces = Locked<[Trace]>([])

    public init() {}

    func remember(_ trace: Trace) {
        traces.withLock { list in
            list.append(trace)
            if list.count > Self.capacity { list.removeFirst(list.count - Self.capacity) }
        }
    }

    /// The most recent trace pushed at least `age` before `now`.
    func newest(olderThan age: Duration, now: ContinuousClock.Instant = .now) -> Trace? {
        traces.current.last { now - $0.pushed >= age }
    }

    /// The first trace still remembered (the start of the warm-up).
    var oldest: Trace? { traces.current.first }
}
