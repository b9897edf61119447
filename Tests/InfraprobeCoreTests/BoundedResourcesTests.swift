import Foundation
import Testing
@testable import InfraprobeCore

/// The caps that keep outside load from turning into unbounded threads: the blocking executor,
/// fan-outs, and bcrypt verifications.
@Suite("Bounded resources")
struct BoundedResourcesTests {
    /// Counts how many bodies run at once.
    final class Gauge: @unchecked Sendable {
        private let lock = NSLock()
        private var now = 0
        private(set) var peak = 0
        func enter() { lock.withLock { now += 1; peak = max(peak, now) } }
        func leave() { lock.withLock { now -= 1 } }
        var highest: Int { lock.withLock { peak } }
    }

    @Test func test_blockingExecutor_neverRunsMoreJobsAtOnceThanItsCap() async throws {
        let executor = BlockingExecutor(maxThreads: 4, maxQueued: 1000, idleTimeout: 0.2)
        let gauge = Gauge()
        let results = try await (0..<100).concurrentMap(maxConcurrent: 100) { index in
            try await executor.run(before: .after(.seconds(30))) {
                gauge.enter()
                usleep(5_000)
                gauge.leave()
                return index
            }
        }
        #expect(results == Array(0..<100))
        #expect(gauge.highest <= 4)
        #expect(executor.threads <= 4)
        try await Task.sleep(for: .milliseconds(600))
        #expect(executor.threads == 0, "idle threads should exit")
    }

    @Test func test_blockingExecutor_refusesWithResourceExhausted_whenItsQueueIsFull() async throws {
        let executor = BlockingExecutor(maxThreads: 1, maxQueued: 1, idleTimeout: 0.2)
        let release = DispatchSemaphore(value: 0)
        let running = Gauge()
        async let busy: Void = executor.run(before: .after(.seconds(10))) { running.enter(); release.wait() }
        while running.highest < 1 { try await Task.sleep(for: .milliseconds(5)) }
        async let queued: Int = executor.run(before: .after(.seconds(10))) { 1 }
        while executor.queued < 1 { try await Task.sleep(for: .milliseconds(5)) }
        let started = ContinuousClock.now
        let error = await #expect(throws: ProbeFailure.self) { try await executor.run(before: .after(.seconds(10))) { 2 } }
        #expect(error?.reason == .resourceExhausted)
        #expect(ContinuousClock.now - started < .milliseconds(100), "refusal should not wait")
        #expect(executor.threads == 1)
        release.signal()
        try await busy
        #expect(try await queued == 1)
    }

    @Test func test_blockingExecutor_refusesWithTimeout_atTheDeadline_whenNoThreadFreesUp() async throws {
        let executor = BlockingExecutor(maxThreads: 1, maxQueued: 10, idleTimeout: 0.2)
        let release = DispatchSemaphore(value: 0)
        let running = Gauge()
        async let busy: Void = executor.run(before: .after(.seconds(10))) { running.enter(); release.wait() }
        while running.highest < 1 { try await Task.sleep(for: .milliseconds(5)) }
        let started = ContinuousClock.now
        let error = await #expect(throws: ProbeFailure.self) {
            try await executor.run(before: .after(.milliseconds(200))) { 1 }
        }
        let waited = ContinuousClock.now - started
        #expect(error?.reason == .timeout)
        #expect(waited >= .milliseconds(150) && waited < .milliseconds(600), "refused after \(waited)")
        #expect(executor.queued == 0)
        release.signal()
        try await busy
    }

    @Test func test_concurrentMap_keepsOrder_andRunsAtMostItsLimitAtOnce() async {
        let gauge = Gauge()
        let results = await Array(0..<50).concurrentMap(maxConcurrent: 3) { value in
            gauge.enter()
            try? await Task.sleep(for: .milliseconds(2))
            gauge.leave()
            return value * 2
        }
        #expect(results == (0..<50).map { $0 * 2 })
        #expect(gauge.highest <= 3)
    }

    @Test func test_basicAuth_usesAtMostTwoThreads_andStillAdmitsAKnownLogin_underAFloodOfWrongPasswords() async throws {
        let users = ["prometheus": try #require(BasicAuth.crypt("right", setting: "$2b$10$abcdefghijklmnopqrstuu"))]
        let executor = BlockingExecutor(maxThreads: BasicAuth.maxConcurrentVerifications,
                                        maxQueued: BasicAuth.maxQueuedVerifications, idleTimeout: 0.5)
        let auth = BasicAuth(executor: executor)
        #expect(await auth.verify(user: "prometheus", password: "right", users: users))

        let started = ContinuousClock.now
        async let flood = (0..<200).concurrentMap(maxConcurrent: 200) { index in
            await auth.verify(user: index % 2 == 0 ? "prometheus" : "nobody", password: "wrong-\(index)", users: users)
        }
        var peak = 0
        var knownLoginTimes: [Duration] = []
        for _ in 0..<10 {
            peak = max(peak, executor.threads)
            let asked = ContinuousClock.now
            #expect(await auth.verify(user: "prometheus", password: "right", users: users))
            knownLoginTimes.append(ContinuousClock.now - asked)
            try await Task.sleep(for: .milliseconds(20))
        }
        let outcomes = await flood
        let floodTime = ContinuousClock.now - started
        #expect(outcomes.allSatisfy { !$0 })
        #expect(peak <= BasicAuth.maxConcurrentVerifications)
        #expect(knownLoginTimes.allSatisfy { $0 < .milliseconds(50) }, "a cached login waited behind the flood: \(knownLoginTimes)")
        #expect(floodTime < BasicAuth.maxWait + .seconds(1), "the flood took \(floodTime)")
    }
}
