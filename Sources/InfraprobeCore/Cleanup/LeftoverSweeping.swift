import FoundationEssentials
import Glibc

/// A prober whose service can hold objects that probes left behind (an exporter killed
/// mid-probe, a service that hung before the delete). The janitor calls it at startup and
/// then periodically. It must only touch objects whose name or metadata prove they are
/// infraprobe's and whose age proves no running probe (here or in another exporter) owns them.
public protocol LeftoverSweeping: Sendable {
    func sweepLeftovers(_ sweep: LeftoverSweep) async -> SweepReport
}

/// The bounds of one janitor run against one target.
public struct LeftoverSweep: Sendable {
    /// Objects younger than this may still belong to a running probe and are left alone.
    public let minimumAge: Duration
    /// The most objects one run removes, so a sweep's load on the service stays bounded.
    public let limit: Int
    public let deadline: Deadline
    /// The target the sweep runs against (for steps and logs).
    public let target: String

    public init(minimumAge: Duration, limit: Int, deadline: Deadline, target: String) {
        self.minimumAge = minimumAge
        self.limit = limit
        self.deadline = deadline
        self.target = target
    }
}

/// What one sweep saw and did.
public struct SweepReport: Sendable, Equatable {
    /// Abandoned infraprobe objects found (removed or not).
    public var found: Int
    public var removed: Int
    /// One line per object or listing that could not be handled.
    public var failures: [String]

    public init(found: Int = 0, removed: Int = 0, failures: [String] = []) {
        self.found = found
        self.removed = removed
        self.failures = failures
    }
}
