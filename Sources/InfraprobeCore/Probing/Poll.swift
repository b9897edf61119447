/// Waits for an eventually consistent result (a service in the Consul catalog, a trace in
/// Tempo, a span through the pipeline) by asking again until it shows or the deadline nears.
///
/// The wait before the next attempt is `waited / growthDivisor`, kept between `first` and
/// `cap`. So a result that appears at any moment is seen by an attempt that starts at most
/// `cap` later (and at most about 1/`growthDivisor` of the time already waited, for early
/// results), never by a doubling that can overshoot by half the wait. The cost is request
/// load: after the first `cap × growthDivisor` the service gets up to 1/`cap` requests per
/// second per waiting check. With the defaults (10 ms, 50 ms, 8) a 5 s wait is about 110
/// attempts, against 250 for a fixed 20 ms and 14 for doubling from 20 ms to 500 ms.
public struct Poll: Sendable {
    public var first: Duration = .milliseconds(10)
    public var cap: Duration = .milliseconds(50)
    public var growthDivisor = 8

    public init() {}

    public static let standard = Poll()

    /// The wait before the next attempt, after `waited` since the first one began.
    public func interval(afterWaiting waited: Duration) -> Duration {
        min(cap, max(first, waited / growthDivisor))
    }

    /// Attempts until `attempt` returns true (true) or the deadline leaves no room for another
    /// wait and attempt (false): never sleeps past the deadline, and stops when the next attempt,
    /// if it takes as long as the slowest so far, would end after it — so the caller, not the
    /// runner's deadline timer, reports what never showed.
    public func until(_ deadline: Deadline, _ attempt: () async throws -> Bool) async throws -> Bool {
        let started = ContinuousClock.now
        return try await until(waited: { ContinuousClock.now - started }, remaining: { deadline.remaining },
                               sleep: { try await Task.sleep(for: $0) }, attempt)
    }

    /// The schedule with its clock passed in, so tests can run it on simulated time.
    func until(waited: () -> Duration, remaining: () -> Duration, sleep: (Duration) async throws -> Void,
               _ attempt: () async throws -> Bool) async throws -> Bool {
        var slowest: Duration = .zero
        while true {
            let begun = waited()
            if try await attempt() { return true }
            slowest = max(slowest, waited() - begun)
            let interval = interval(afterWaiting: waited())
            guard remaining() > interval + slowest else { return false }
            try await sleep(interval)
        }
    }

    /// `until` within the component's deadline; a timeout failure naming `what` when it never shows.
    /// `reserving` stops the wait that much earlier (at most a fifth of the time left), so a
    /// check that created something still has time to remove it before it answers.
    public func until(_ context: ComponentContext, what: String, reserving reserve: Duration = .zero,
                      _ attempt: () async throws -> Bool) async throws {
        let deadline = Deadline(context.deadline.instant - min(reserve, context.deadline.remaining / 5))
        guard try await until(deadline, attempt) else {
            throw ProbeFailure(.timeout, "\(what) not seen before the deadline")
        }
    }
}
