import FoundationEssentials
import Glibc

/// The instant by which a probe must have answered.
public struct Deadline: Sendable, Comparable {
    public let instant: ContinuousClock.Instant

    public init(_ instant: ContinuousClock.Instant) { self.instant = instant }

    public static func after(_ duration: Duration) -> Deadline {
        Deadline(.now + duration)
    }

    public var remaining: Duration {
        let left = instant - .now
        return left < .zero ? .zero : left
    }

    public var hasPassed: Bool { ContinuousClock.now >= instant }

    public static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.instant < rhs.instant }

    /// DESIGN §4: min(target timeout, scrape timeout − offset); at or below the offset, half the scrape timeout.
    public static func probeTimeout(targetTimeout: Duration, scrapeTimeout: Duration?, offset: Duration) -> Duration {
        guard let scrape = scrapeTimeout, scrape > .zero else { return targetTimeout }
        let budget = scrape > offset ? scrape - offset : scrape / 2
        return min(targetTimeout, budget)
    }

    /// The same from the raw header; a header that is present but unusable throws.
    public static func probeTimeout(targetTimeout: Duration, scrapeTimeoutHeader: String?, offset: Duration) throws(ScrapeTimeout.Invalid) -> Duration {
        probeTimeout(targetTimeout: targetTimeout, scrapeTimeout: try ScrapeTimeout.parse(header: scrapeTimeoutHeader), offset: offset)
    }
}

extension Duration {
    public var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }

    /// Whole milliseconds, saturating at the Int64 range instead of trapping.
    public var milliseconds: Int64 {
        let (s, atto) = components
        let (ms, overflow) = s.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return s < 0 ? .min : .max }
        let (total, overflowAdding) = ms.addingReportingOverflow(atto / 1_000_000_000_000_000)
        return overflowAdding ? (s < 0 ? .min : .max) : total
    }

    /// Whole microseconds, saturating at the Int64 range instead of trapping.
    public var microseconds: Int64 {
        let (s, atto) = components
        let (us, overflow) = s.multipliedReportingOverflow(by: 1_000_000)
        guard !overflow else { return s < 0 ? .min : .max }
        let (total, overflowAdding) = us.addingReportingOverflow(atto / 1_000_000_000_000)
        return overflowAdding ? (s < 0 ? .min : .max) : total
    }

    public var timeval: timeval {
        let (s, atto) = components
        return Glibc.timeval(tv_sec: Int(s), tv_usec: Int(atto / 1_000_000_000_000))
    }
}
