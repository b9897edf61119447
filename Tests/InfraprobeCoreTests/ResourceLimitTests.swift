import Foundation
import Testing
@testable import InfraprobeCore

/// The in-process limits behind the flood tests: one landing-page render for many requests,
/// bounded joiners of one probe, the connection watchdog.
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

    /// A probe service allowed one probe and two joiners, with one Redis target whose server never answers.
    static func serviceProbingAHungRedis(timeout: String) throws -> (ProbeService, TargetSpec, BlackHoleListener) {
        let hole = try BlackHoleListener()
        let config = try ConfigLoader(environment: ProberEnvironment()).parse(
            yaml: "targets:\n  hung:\n    prober: redis\n    address: \(hole.address)\n    timeout: \(timeout)\n", file: "t.yml",
            baseDirectory: URL(fileURLWithPath: "/tmp"))
        let service = ProbeService(config: config, environment: ProberEnvironment(), metrics: SelfMetrics(version: "t", revision: "t"),
                                   maxConcurrentProbes: 1, maxJoinersPerProbe: 2)
        return (service, try #require(config.target(named: "hung")), hole)
    }

    @Test func test_probeService_refusesJoinersPastTheLimit_andCountsJoinedScrapesOnce() async throws {
        let (service, target, hole) = try Self.serviceProbingAHungRedis(timeout: "1s")
        defer { withExtendedLifetime(hole) {} }
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

    @Test func test_probeService_freesAJoinersPlace_whenItIsAnsweredByItsOwnShorterDeadline() async throws {
        let (service, target, hole) = try Self.serviceProbingAHungRedis(timeout: "10s")
        defer { withExtendedLifetime(hole) {} }
        // Scrapes one after another, each with a 0.1 s deadline, all within the one probe's 10 s:
        // the first starts it, the others join it and are answered early, so none waits past its
        // answer and the limit of two waiting joiners is never reached.
        var outcomes: [String] = []
        for _ in 0..<6 {
            do {
                let record = try await service.probe(target, timeout: .milliseconds(100))
                outcomes.append(record.result.success ? "passed" : "answered")
            } catch {
                outcomes.append("\(error)")
            }
        }
        #expect(outcomes == Array(repeating: "answered", count: 6), "\(outcomes)")
    }
}

/// The watchdog's rules, on socket pairs: which connections a sweep shuts down.
@Suite("Connection watchdog")
struct ConnectionWatchdogTests {
    /// A connected pair; `server` is what the watchdog tracks, `client` shows a shutdown as EOF.
    final class Pair {
        let server: Int32, client: Int32
        init() {
            var fds: [Int32] = [0, 0]
            _ = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds)
            server = fds[0]
            client = fds[1]
            _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
        }
        /// The watchdog shut the server side down: the client reads end-of-stream.
        var shutDown: Bool {
            var byte: UInt8 = 0
            return recv(client, &byte, 1, 0) == 0
        }
        deinit { close(server); close(client) }
    }

    static func watchdog(threshold: Int = 100, lowWater: Int = 50) -> ConnectionWatchdog {
        ConnectionWatchdog(limits: .init(waitLimit: .seconds(15), pressureWait: .seconds(1), minimumWait: .milliseconds(250),
                                         pressureThreshold: threshold, lowWater: lowWater))
    }

    @Test func test_sweep_closesAConnectionWaitingPastTheLimit_inTotal_butNotOneBeingHandled() {
        let watchdog = Self.watchdog()
        let waiting = Pair(), handled = Pair()
        let now = ContinuousClock.now
        watchdog.opened(1, fd: waiting.server)
        watchdog.opened(2, fd: handled.server)
        watchdog.handling(2)
        #expect(watchdog.sweep(now: now + .seconds(14)) == 0)
        #expect(watchdog.sweep(now: now + .seconds(16)) == 1)
        #expect(waiting.shutDown)
        #expect(!handled.shutDown)
        // Once answered, the handled connection waits on its client again, counted from then.
        let answered = ContinuousClock.now
        watchdog.waiting(2)
        #expect(watchdog.sweep(now: answered + .seconds(14)) == 0)
        #expect(watchdog.sweep(now: answered + .seconds(16)) == 1)
        #expect(handled.shutDown)
        // Closed by MHD: forgotten, so a reused descriptor number is never shut down.
        watchdog.closed(1)
        #expect(watchdog.openConnections == 1)
    }

    @Test func test_sweep_underPressure_closesTheLongestWaitingDownToLowWater_sparingTheNewest() {
        let watchdog = Self.watchdog(threshold: 4, lowWater: 2)
        let pairs = (0..<5).map { _ in Pair() }
        for (index, pair) in pairs.enumerated() {
            watchdog.opened(index, fd: pair.server)
            usleep(5_000) // opened in order: 0 is the oldest
        }
        // Under 250 ms nothing is old enough to close, pressure or not.
        #expect(watchdog.sweep(now: .now) == 0)
        // Past it, the oldest go until 2 remain; the rest are spared until they pass 1 s.
        #expect(watchdog.sweep(now: .now + .milliseconds(300)) == 3)
        #expect(pairs[0].shutDown && pairs[1].shutDown && pairs[2].shutDown)
        #expect(!pairs[3].shutDown && !pairs[4].shutDown)
    }

    @Test func test_sweep_underPressureBelowTheLimit_closesAtMostItsPace_andAtTheLimitAllThatAreOver() {
        let pairs = (0..<40).map { _ in Pair() }
        func opened(limit: Int) -> ConnectionWatchdog {
            let watchdog = ConnectionWatchdog(limits: .init(waitLimit: .seconds(15), pressureThreshold: 10, lowWater: 5,
                                                            closesPerSweep: 8, connectionLimit: limit))
            for (index, pair) in pairs.enumerated() { watchdog.opened(index, fd: pair.server) }
            return watchdog
        }
        // 40 open under pressure, far below a limit of 100: all are over, but 8 go a sweep, oldest first.
        let paced = opened(limit: 100)
        let later = ContinuousClock.now + .seconds(2)
        #expect(paced.sweep(now: later) == 8)
        #expect(pairs[0].shutDown && pairs[7].shutDown && !pairs[8].shutDown)
        #expect(paced.sweep(now: later) == 8)
        #expect(pairs[15].shutDown && !pairs[16].shutDown)
        // 40 open against a limit of 45: new clients would wait, so one sweep closes all it may.
        let full = opened(limit: 45)
        #expect(full.sweep(now: later) == 40)
    }

    @Test func test_sweep_closesEveryConnectionWhoseClientHungUp_beyondThePace() {
        let watchdog = ConnectionWatchdog(limits: .init(waitLimit: .seconds(15), pressureThreshold: 1000, lowWater: 500,
                                                        closesPerSweep: 8, connectionLimit: 2000))
        let pairs = (0..<40).map { _ in Pair() }
        for (index, pair) in pairs.enumerated() { watchdog.opened(index, fd: pair.server) }
        for pair in pairs { _ = shutdown(pair.client, Int32(SHUT_WR)) }
        #expect(watchdog.sweep(now: .now) == 40)
        #expect(pairs.allSatisfy { $0.shutDown })
    }

    @Test func test_sweep_closesAWaitingConnectionWhoseClientHungUp() {
        let watchdog = Self.watchdog()
        let pair = Pair()
        watchdog.opened(1, fd: pair.server)
        #expect(watchdog.sweep(now: .now) == 0)
        _ = shutdown(pair.client, Int32(SHUT_WR))
        #expect(watchdog.sweep(now: .now) == 1)
    }
}
