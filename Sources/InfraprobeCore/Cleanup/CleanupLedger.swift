import FoundationEssentials
import Glibc
import Logging

/// Removals that did not finish by a probe's deadline, retried in the background so cleanup
/// never delays an answer. Bounded: at most `capacity` entries (more are dropped and left to
/// the janitor, which finds them by name), `maxAttempts` tries each with exponential backoff,
/// each try under its own deadline, `maxConcurrent` at a time. `check` and shutdown drain it.
public final class CleanupLedger: Sendable {
    public struct Options: Sendable {
        public var capacity = 1000
        public var maxAttempts = 6
        public var attemptTimeout: Duration = .seconds(5)
        /// Wait before the second try; doubled after each failed one.
        public var firstRetryDelay: Duration = .seconds(1)
        public var maxConcurrent = 4

        public init() {}
    }

    private struct Entry {
        let cleanup: PendingCleanup
        var attempts = 0
        var notBefore: ContinuousClock.Instant
    }

    private struct State {
        var entries: [Int: Entry] = [:]
        var nextID = 0
        var workerRunning = false
        /// While a drain waits, backoff is skipped: the rest of the process's life is short.
        var draining = 0
        /// Probe steps that created an object and have not yet removed it or handed it over:
        /// a cancelled one records its removal just after the answer, so a drain waits for it.
        var open = 0
    }

    public let options: Options
    private let state = Locked(State())
    private let metrics = Locked<SelfMetrics?>(nil)
    private let logger: Logger
    /// How often the worker looks for due entries while it waits out a backoff.
    static let tick: Duration = .milliseconds(50)

    public init(options: Options = Options(), logger: Logger = Logger(label: "infraprobe")) {
        self.options = options
        self.logger = logger
    }

    /// Counts into these self-metrics from now on.
    public func report(to metrics: SelfMetrics) {
        let pending = self.pending
        self.metrics.withLock { $0 = metrics }
        metrics.recordCleanupPending(pending)
    }

    public var pending: Int { state.withLock { $0.entries.count } }

    /// Runs a probe step that creates an object; a drain meanwhile waits for it to finish
    /// (it is bounded by its probe's deadline) and hand over what it could not remove.
    public func guarding<T>(_ body: () async throws -> T) async rethrows -> T {
        state.withLock { $0.open += 1 }
        defer { state.withLock { $0.open -= 1 } }
        return try await body()
    }

    /// Takes a removal over; its first try starts at once.
    public func record(_ cleanup: PendingCleanup) {
        let outcome = state.withLock { state -> (accepted: Bool, startWorker: Bool, count: Int) in
            guard state.entries.count < options.capacity else { return (false, false, state.entries.count) }
            state.entries[state.nextID] = Entry(cleanup: cleanup, notBefore: .now)
            state.nextID += 1
            let start = !state.workerRunning
            state.workerRunning = true
            return (true, start, state.entries.count)
        }
        let metrics = self.metrics.current
        metrics?.recordLeftoverFound(prober: cleanup.prober)
        guard outcome.accepted else {
            metrics?.recordCleanupAbandoned(prober: cleanup.prober)
            logger.warning("cleanup ledger full; leaving the object to the janitor",
                           metadata: ["target": "\(cleanup.target)", "object": "\(cleanup.what)", "capacity": "\(options.capacity)"])
            return
        }
        metrics?.recordCleanupPending(outcome.count)
        if outcome.startWorker { Task.detached { await self.work() } }
    }

    /// Waits until every entry is removed or given up and no guarded step is still running, at
    /// most `limit`; returns how many remain (entries and steps).
    @discardableResult
    public func drain(within limit: Duration) async -> Int {
        let deadline = Deadline.after(limit)
        state.withLock { $0.draining += 1 }
        defer { state.withLock { $0.draining -= 1 } }
        while true {
            let (left, open) = state.withLock { ($0.entries.count, $0.open) }
            if (left == 0 && open == 0) || deadline.hasPassed { return left + open }
            try? await Task.sleep(for: min(Self.tick, deadline.remaining))
        }
    }

    private func work() async {
        while true {
            let due = state.withLock { state -> [(Int, PendingCleanup)]? in
                if state.entries.isEmpty {
                    state.workerRunning = false
                    return nil
                }
                let now = ContinuousClock.now
                return state.entries.filter { state.draining > 0 || $0.value.notBefore <= now }
                    .sorted { $0.key < $1.key }.prefix(options.maxConcurrent).map { ($0.key, $0.value.cleanup) }
            }
            guard let due else { return }
            if due.isEmpty {
                try? await Task.sleep(for: Self.tick)
                continue
            }
            let timeout = options.attemptTimeout
            let results = await withTaskGroup(of: (Int, Bool).self) { group in
                for (id, cleanup) in due {
                    group.addTask { (id, await cleanup.remove(.after(timeout))) }
                }
                var results: [(Int, Bool)] = []
                for await result in group { results.append(result) }
                return results
            }
            for (id, removed) in results { settle(id, removed: removed) }
        }
    }

    private func settle(_ id: Int, removed: Bool) {
        let outcome = state.withLock { state -> (cleanup: PendingCleanup, gaveUp: Bool, count: Int)? in
            guard var entry = state.entries[id] else { return nil }
            entry.attempts += 1
            let gaveUp = !removed && entry.attempts >= options.maxAttempts
            if removed || gaveUp {
                state.entries[id] = nil
            } else {
                entry.notBefore = .now + options.firstRetryDelay * (1 << min(entry.attempts - 1, 16))
                state.entries[id] = entry
            }
            return (entry.cleanup, gaveUp, state.entries.count)
        }
        guard let outcome else { return }
        let metrics = self.metrics.current
        metrics?.recordCleanupPending(outcome.count)
        if removed {
            metrics?.recordLeftoverRemoved(prober: outcome.cleanup.prober)
            logger.info("removed what a probe left behind", metadata: ["target": "\(outcome.cleanup.target)", "object": "\(outcome.cleanup.what)"])
        } else if outcome.gaveUp {
            metrics?.recordCleanupAbandoned(prober: outcome.cleanup.prober)
            logger.warning("cleanup given up after \(options.maxAttempts) tries; leaving the object to the janitor",
                           metadata: ["target": "\(outcome.cleanup.target)", "object": "\(outcome.cleanup.what)"])
        }
    }
}
