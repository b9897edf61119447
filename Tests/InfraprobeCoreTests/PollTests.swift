import Testing
@testable import InfraprobeCore

/// The poll schedule on simulated time: attempts and sleeps advance a counter, nothing waits
/// for real, so the bounds below are exact properties of the schedule, not timings.
@Suite("Polling for eventually consistent results")
struct PollTests {
    struct Run {
        let found: Bool
        let attemptStarts: [Duration]
        /// When the attempt that saw the result returned.
        let end: Duration
    }

    /// Polls a result that becomes visible at `visibleAt` (never when nil); each attempt takes `latency`.
    static func run(visibleAt: Duration?, latency: Duration = .zero, budget: Duration = .seconds(5)) async throws -> Run {
        var now: Duration = .zero
        var starts: [Duration] = []
        let found = try await Poll.standard.until(waited: { now }, remaining: { max(.zero, budget - now) },
                                                  sleep: { now += $0 }) {
            starts.append(now)
            let seen = visibleAt.map { now >= $0 } ?? false
            now += latency
            return seen
        }
        return Run(found: found, attemptStarts: starts, end: now)
    }

    @Test("a result is seen at most 50 ms after it appears, plus the requests in flight (not by doubling)")
    func test_poll_seesResult_atMost50msAfterItAppears() async throws {
        for latency in [Duration.zero, .milliseconds(5)] {
            var worst: Duration = .zero
            for t0 in stride(from: 0, through: 4_900, by: 7).map({ Duration.milliseconds($0) }) {
                let run = try await Self.run(visibleAt: t0, latency: latency)
                #expect(run.found, "visible at \(t0)")
                worst = max(worst, run.end - t0)
            }
            // One request may have just missed it and the one that sees it takes its time too.
            #expect(worst <= .milliseconds(50) + latency * 2, "latency \(latency): seen up to \(worst) late")
        }
    }

    @Test("a result that shows within the first 80 ms is seen within 10 ms")
    func test_poll_isFast_forEarlyResults() async throws {
        for t0 in stride(from: 0, through: 80, by: 3).map({ Duration.milliseconds($0) }) {
            let run = try await Self.run(visibleAt: t0)
            #expect(run.end - t0 <= .milliseconds(10), "visible at \(t0), seen at \(run.end)")
        }
    }

    @Test("a 5 s wait costs about 110 requests: between a fixed 50 ms (100) and a fixed 20 ms (250)")
    func test_poll_boundsRequestCount_overAFiveSecondWait() async throws {
        let run = try await Self.run(visibleAt: nil)
        #expect(!run.found)
        #expect(run.attemptStarts.count > 100 && run.attemptStarts.count <= 120, "\(run.attemptStarts.count) attempts")
        let gaps = zip(run.attemptStarts.dropFirst(), run.attemptStarts).map { $0 - $1 }
        #expect(gaps.allSatisfy { $0 >= .milliseconds(10) && $0 <= .milliseconds(50) })
        #expect(zip(gaps.dropFirst(), gaps).allSatisfy { $0 >= $1 }, "the interval never shrinks")
    }

    @Test("no sleep ends past the deadline, and no attempt that takes as long as the last would end after it",
          arguments: [0, 5, 37, 333, 1234])
    func test_poll_neverSleepsPastTheDeadline(budgetMilliseconds: Int) async throws {
        let budget = Duration.milliseconds(budgetMilliseconds)
        let run = try await Self.run(visibleAt: nil, latency: .milliseconds(2), budget: budget)
        #expect(!run.found)
        #expect(run.attemptStarts.dropFirst().allSatisfy { $0 + .milliseconds(2) <= budget }, "\(run.attemptStarts)")
        #expect(run.end <= max(budget, .milliseconds(2)))
    }
}
