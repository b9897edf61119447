import Foundation

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
    public static func probeTimeout(targetTimeout: Duration, scrapeTimeoutHeader: String?, offset: Duration) -> Duration {
        guard let header = scrapeTimeoutHeader?.trimmingCharacters(in: .whitespaces),
              let seconds = Double(header), seconds.isFinite, seconds > 0
        else { return targetTimeout }
        let scrape = Duration.seconds(seconds)
        let budget = scrape > offset ? scrape - offset : scrape / 2
        return min(targetTimeout, budget)
    }
}

extension Duration {
    public var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }

    public var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }

    public var timeval: timeval {
        let (s, atto) = components
        return Foundation.timeval(tv_sec: Int(s), tv_usec: Int(atto / 1_000_000_000_000))
    }
}
