import Foundation
import Testing
@testable import InfraprobeCore

/// The in-process limits behind the flood tests: one landing-page render for many requests,
/// a bounded bcrypt queue, bounded joiners of one probe, the connection watchdog.
@Suite("Resource limits")
struct ResourceLimitTests {
    @Test func test_landingPageCache_rendersOnce_forConcurrentRequests() async {
        let cache = LandingPageCache()
        let renders = Locked(0)
        let pages = await withTaskGroup(of: String.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    await cache.page(revision: 1) {
                        renders.withLock { $0 += 1 }
                        usleep(50_000)
                        return "page"
                    }
                }
            }
            return await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(pages.count == 50 && pages.allSatisfy { $0 == "page" })
        #expect(renders.current == 1)
        // A new revision (a probe finished) renders again.
        _ = await cache.page(revision: 2) { renders.withLock { $0 += 1 }; return "new" }
        #expect(renders.current == 2)
    }

    @Test func test_bcryptLimiter_runsAtMostMaxConcurrent_andRefusesPastTheQueue() async {
        let limiter = BcryptLimiter(maxConcurrent: 1, maxWaiting: 3)
        let running = Locked((now: 0, peak: 0))
        let results = await withTaskGroup(of: Int?.self) { group in
            for index in 0..<20 {
                group.addTask {
                    await limiter.run {
                        running.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) }
                        usleep(100_000)
                        running.withLock { $0.now -= 1 }
                        return index
                    }
                }
            }
            return await group.reduce(into: [Int?]()) { $0.append($1) }
        }
        #expect(running.current.peak == 1)
        let done = results.compactMap { $0 }.count
        // One running and three queued at most at any time; the rest were refused at once.
        #expect(done >= 1 && done <= 4, "\(done) ran")
        #expect(results.count == 20)
    }

    @Test func test_basicAuth_isBusy_whenTheBcryptQueueIsFull() async {
        let limiter = BcryptLimiter(maxConcurrent: 1, maxWaiting: 0)
        let auth = BasicAuth(limiter: limiter)
        let users = ["u": BasicAuth.crypt("pw", setting: "$2b$08$abcdefghijklmnopqrstuu")!]
        let verdicts = await withTaskGroup(of: BasicAuth.Verdict.self) { group in
            for _ in 0..<10 { group.addTask { await auth.check(user: "u", password: "wrong", users: users) } }
            return await group.reduce(into: [BasicAuth.Verdict]()) { $0.append($1) }
        }
        #expect(verdicts.contains(.rejected))
        #expect(verdicts.contains(.busy))
        #expect(!verdicts.contains(.accepted))
        #expect(await auth.check(user: "u", password: "pw", users: users) == .accepted)
    }

    @Test func test_probeService_refusesJoinersPastTheLimit_andCountsJoinedScrapesOnce() async throws {
        let hole = try BlackHoleListener()
        let config = try ConfigLoader(environment: ProberEnvironment()).parse(
            yaml: "targets:\n  hung:\n    prober: redis\n    address: \(hole.address)\n    timeout: 1s\n", file: "t.yml", baseDirectory: URL(fileURLWithPath: "/tmp"))
        let service = ProbeService(config: config, environment: ProberEnvironment(), metrics: SelfMetrics(version: "t", revision: "t"),
                                   maxConcurrentProbes: 1, maxJoinersPerProbe: 2)
        let target = try #require(config.target(named: "hung"))
        let outcomes = await withTaskGroup(of: String.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    do {
                        _ = try await service.probe(target, timeout: .seconds(1))
                        return "ok"
                    } catch is ProbeService.TooManyWaiting {
                        return "too-many-waiting"
                    } catch {
                        return "overloaded"
                    }
                }
            }
            return await group.reduce(into: [String]()) { $0.append($1) }
        }
        // One probe (the only one max-requests allows) and two joiners; joining does not
        // count against max-requests, so none is "overloaded".
        #expect(outcomes.filter { $0 == "ok" }.count == 3, "\(outcomes)")
        #expect(outcomes.filter { $0 == "too-many-waiting" }.count == 3, "\(outcomes)")
    }
}
