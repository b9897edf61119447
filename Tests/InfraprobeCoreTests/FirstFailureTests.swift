import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// The first failure keeps its reason: a check that fails just before the deadline and then
/// cleans up slowly reports why it failed, not `timeout`, and the cleanup does not hold the answer.
@Suite("First failure")
struct FirstFailureTests {
    /// One check that fails with `auth` `failBefore` its deadline, then spends `cleanup` cleaning
    /// up through `withCleanup`, as the probers' create-then-delete checks do.
    struct FailingThenCleaningProber: Prober {
        let failBefore: Duration
        let cleanup: Duration
        let cleanedUp: Locked<Bool>

        func checks() -> [ComponentCheck] {
            [ComponentCheck("service_running") { context in
                let cleanup = self.cleanup, cleanedUp = self.cleanedUp
                try await withCleanup(context, {
                    try await Task.sleep(until: context.deadline.instant - failBefore, clock: .continuous)
                    throw ProbeFailure(.auth, "403 Permission denied")
                }, cleanup: ObjectRemoval(what: "slow removal") { _ in
                    try? await Task.sleep(for: cleanup)
                    cleanedUp.withLock { $0 = true }
                    return true
                })
            }]
        }
    }

    static func target(_ prober: any Prober) -> TargetSpec {
        TargetSpec(name: "t", kind: "test", timeout: .seconds(1), components: ["service_running"], prober: prober, redactedSettings: [])
    }

    @Test func test_authFailure50msBeforeTheDeadline_withSlowCleanup_isReportedAsAuth_atTheDeadline() async throws {
        let cleanedUp = Locked(false)
        let prober = FailingThenCleaningProber(failBefore: .milliseconds(50), cleanup: .seconds(1), cleanedUp: cleanedUp)
        let start = ContinuousClock.now
        let result = await ComponentRunner.run(target: Self.target(prober), deadline: .after(.milliseconds(400)), environment: Probe.environment)
        let took = ContinuousClock.now - start
        #expect(result.reason("service_running") == .auth, "\(result.failureSummary)")
        #expect(result.component("service_running")?.failure?.message == "403 Permission denied")
        // Answered at the deadline, not after the 1 s cleanup.
        #expect(took < .milliseconds(800), "took \(took)")
        #expect(!cleanedUp.current)
        // The cleanup still runs to its end.
        for _ in 0..<300 where !cleanedUp.current { try await Task.sleep(for: .milliseconds(10)) }
        #expect(cleanedUp.current)
    }

    @Test func test_consulKVRefusedShortlyBeforeTheDeadline_whileItsDeletionIsSlow_isReportedAsAuth() async throws {
        // The Consul fake refuses the token on the KV write 250 ms in (the deadline is at 450 ms) and
        // takes a second over the cleanup DELETE that follows.
        let fake = FakeConsul(token: "s3cret-token")
        fake.slowRequests.withLock { $0 = ["PUT /v1/kv/": .milliseconds(250), "DELETE /v1/kv/": .seconds(1)] }
        try fake.start()
        defer { fake.stop() }
        let start = ContinuousClock.now
        let outcome = try await ProbeHarness.probe("consul", ["url: \(fake.url)", "token: wrong-token", "components: [service_running, kv_store]"],
                                                   deadline: .milliseconds(450))
        #expect(outcome.up("service_running"), "\(outcome.summary)")
        #expect(outcome.reason("kv_store") == .auth, "\(outcome.summary)")
        #expect(ContinuousClock.now - start < .milliseconds(900))
        // The cleanup was attempted (and is still under way when the answer came).
        for _ in 0..<200 where !fake.requestLog.current.contains(where: { $0.hasPrefix("http DELETE /v1/kv/") }) {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(fake.requestLog.current.contains { $0.hasPrefix("http DELETE /v1/kv/") })
    }

    @Test func test_failureRefinedAfterCleanup_beforeTheDeadline_reportsTheRefinedReason() async {
        // ArangoDB turns a 403 into not_ready after its cleanup when the server is read-only; with
        // time left the check's own final answer wins over what it recorded first.
        let check = ComponentCheck("service_running") { context in
            do {
                try await withCleanup(context, { throw ProbeFailure(.auth, "403") },
                                      cleanup: ObjectRemoval(what: "removal") { _ in try? await Task.sleep(for: .milliseconds(20)); return true })
            } catch {
                throw ProbeFailure(.notReady, "server is read-only")
            }
        }
        struct One: Prober { let check: ComponentCheck; func checks() -> [ComponentCheck] { [check] } }
        let result = await ComponentRunner.run(target: Self.target(One(check: check)), deadline: .after(.seconds(2)), environment: Probe.environment)
        #expect(result.reason("service_running") == .notReady)
    }

    @Test func test_checkThatHangsWithoutFailing_stillTimesOut() async {
        let check = ComponentCheck("service_running") { _ in try await Task.sleep(for: .seconds(5)) }
        struct One: Prober { let check: ComponentCheck; func checks() -> [ComponentCheck] { [check] } }
        let result = await ComponentRunner.run(target: Self.target(One(check: check)), deadline: .after(.milliseconds(100)), environment: Probe.environment)
        #expect(result.reason("service_running") == .timeout)
    }
}
