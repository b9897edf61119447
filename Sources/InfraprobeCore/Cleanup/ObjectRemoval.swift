import FoundationEssentials
import Glibc

/// How to remove one object a probe created: one attempt under the deadline given, true once
/// the object is gone.
public struct ObjectRemoval: Sendable {
    /// Method and path (never credentials), for steps and logs.
    public let what: String
    public let remove: @Sendable (Deadline) async -> Bool

    public init(what: String, remove: @escaping @Sendable (Deadline) async -> Bool) {
        self.what = what
        self.remove = remove
    }
}

/// Runs `body`; if it throws, removes what it created before rethrowing, within the probe's
/// deadline less a margin (outside the cancelled task), so the failure is still reported with
/// its own reason rather than as the deadline's timeout. A removal the deadline leaves no time
/// for, or that fails, goes to the cleanup ledger: cleanup never delays the answer.
/// The success path cleans up inline, so its deletions are checked like any other step.
func withCleanup<T>(_ context: ComponentContext, _ body: () async throws -> T, cleanup removal: ObjectRemoval) async throws -> T {
    try await context.cleanupLedger.guarding { try await runCleaningUp(context, body, removal) }
}

/// Time kept between an inline removal's end and the probe's deadline, for the failure to be reported.
let inlineCleanupMargin: Duration = .milliseconds(100)
/// What a wait that may end in failure leaves before the deadline for the removal that follows
/// it: room for one request plus the margin, so the object goes inline, not to the ledger.
let inlineCleanupReserve: Duration = inlineCleanupMargin * 3

private func runCleaningUp<T>(_ context: ComponentContext, _ body: () async throws -> T, _ removal: ObjectRemoval) async throws -> T {
    do {
        return try await body()
    } catch {
        // Recorded before cleanup starts: a deadline during cleanup reports this, not `timeout`.
        context.recordFailure(error)
        let margin = inlineCleanupMargin
        let inline = Deadline(context.deadline.instant - margin)
        let removed = context.deadline.remaining <= margin * 2 ? false : await Task { await removal.remove(inline) }.value
        if !removed {
            context.step("\(removal.what) not done in the probe's time: left to the cleanup ledger")
            context.cleanupLedger.record(PendingCleanup(prober: context.prober, target: context.target, what: removal.what, remove: removal.remove))
        }
        throw error
    }
}
