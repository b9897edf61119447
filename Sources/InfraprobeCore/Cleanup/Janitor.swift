import FoundationEssentials
import Glibc
import Logging

/// Sweeps infraprobe's own leftovers from the configured targets whose prober can find them
/// (`LeftoverSweeping`): once at startup, then every `interval`. Each run is bounded: targets
/// one after another, at most `limit` removals and `sweepTimeout` per target, and only objects
/// older than `minimumAge` (longer than any probe runs). Module targets are not swept: their
/// addresses come from requests, and what their probes leave is the cleanup ledger's.
public final class Janitor: Sendable {
    public struct Options: Sendable {
        public var interval: Duration = .seconds(600)
        public var minimumAge: Duration = .seconds(900)
        public var limit = 100
        public var sweepTimeout: Duration = .seconds(30)

        public init() {}
    }

    public let options: Options
    private let targets: @Sendable () -> [TargetSpec]
    private let metrics: SelfMetrics?
    private let logger: Logger
    private let loop = Locked<Task<Void, Never>?>(nil)

    public init(options: Options, metrics: SelfMetrics?, logger: Logger = Logger(label: "infraprobe"),
                targets: @escaping @Sendable () -> [TargetSpec]) {
        self.options = options
        self.metrics = metrics
        self.logger = logger
        self.targets = targets
    }

    /// One sweep of every target that can be swept; the reports by target name.
    @discardableResult
    public func runOnce() async -> [String: SweepReport] {
        var reports: [String: SweepReport] = [:]
        for target in targets() {
            guard let sweeper = target.prober as? any LeftoverSweeping else { continue }
            if Task.isCancelled { break }
            if target.timeout >= options.minimumAge {
                // Its own running probe's objects could look abandoned: not swept at all.
                logger.warning("janitor skips a target whose probe timeout is not below --janitor.min-age",
                               metadata: ["target": "\(target.name)", "timeout": "\(DurationParser.format(target.timeout))",
                                          "min_age": "\(DurationParser.format(options.minimumAge))"])
                continue
            }
            let report = await sweeper.sweepLeftovers(LeftoverSweep(minimumAge: options.minimumAge, limit: options.limit,
                                                                     deadline: .after(options.sweepTimeout), target: target.name))
            reports[target.name] = report
            metrics?.recordLeftoverFound(prober: target.kind, count: report.found)
            metrics?.recordLeftoverRemoved(prober: target.kind, count: report.removed)
            if report.found > 0 || !report.failures.isEmpty {
                logger.info("janitor swept leftovers", metadata: [
                    "target": "\(target.name)", "found": "\(report.found)", "removed": "\(report.removed)",
                    "failures": "\(report.failures.prefix(5).joined(separator: "; "))",
                ])
            }
        }
        metrics?.recordJanitorRun()
        return reports
    }

    /// Runs now, then every `interval`, until `stop()`.
    public func start() {
        let interval = options.interval
        let task = Task.detached { [self] in
            while !Task.isCancelled {
                await runOnce()
                try? await Task.sleep(for: interval)
            }
        }
        loop.withLock { previous in
            previous?.cancel()
            previous = task
        }
    }

    public func stop() {
        loop.withLock { task in
            task?.cancel()
            task = nil
        }
    }
}
