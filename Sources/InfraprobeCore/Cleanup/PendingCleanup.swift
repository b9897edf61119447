import FoundationEssentials
import Glibc

/// One removal a probe could not finish in its own time (the service hung, or the deadline
/// came first): the ledger retries it in the background.
public struct PendingCleanup: Sendable {
    /// The prober kind, for the leftover counters.
    public let prober: String
    public let target: String
    /// What is removed, for logs (method and path; never credentials).
    public let what: String
    /// One attempt bounded by the deadline given; true once the object is gone (404 included).
    public let remove: @Sendable (Deadline) async -> Bool

    public init(prober: String, target: String, what: String, remove: @escaping @Sendable (Deadline) async -> Bool) {
        self.prober = prober
        self.target = target
        self.what = what
        self.remove = remove
    }
}
