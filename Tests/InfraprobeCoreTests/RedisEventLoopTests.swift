import Foundation
import Testing
@testable import InfraprobeCore

/// The Redis event loop is the executor of the Redis prober's components: a component runs on
/// the loop thread, queues its pipeline on the socket without a hand-off to another thread, and
/// the pipelines one probe's components queue together go out in one write.
@Suite("Redis event loop as the components' executor", .serialized)
struct RedisEventLoopTests {
    /// A prober whose one check reports the thread it ran on, before and after a suspension.
    private struct ThreadReportingProber: Prober {
        let loop: RedisEventLoop
        let seen: Locked<[Bool]>
        var executorPreference: (any TaskExecutor)? { loop }
        func checks() -> [ComponentCheck] {
            [ComponentCheck("service_running") { [loop, seen] _ in
                seen.withLock { $0.append(loop.isCurrentThread) }
                await Task.yield()
                seen.withLock { $0.append(loop.isCurrentThread) }
            }]
        }
    }

    @Test func test_componentRunner_runsChecksOnTheProbersPreferredExecutor() async throws {
        let loop = RedisEventLoop()
        let seen = Locked<[Bool]>([])
        let target = TargetSpec(name: "t", kind: "test", timeout: .seconds(5), components: ["service_running"],
                                prober: ThreadReportingProber(loop: loop, seen: seen), redactedSettings: [])
        let result = await ComponentRunner.run(target: target, deadline: .after(.seconds(5)), environment: Probe.environment)
        #expect(result.components.map(\.component) == ["service_running"])
        #expect(result.success, "\(result.failureSummary)")
        #expect(seen.current == [true, true])
        #expect(!loop.isCurrentThread)
    }

    @Test func test_redisProber_prefersTheLoopOfItsPools() throws {
        let loop = RedisEventLoop()
        let environment = ProberEnvironment(instanceID: "test", redisPools: RedisPools(loop: loop))
        let target = try #require(try ConfigLoader(environment: environment).parse(
            yaml: "targets:\n  t:\n    prober: redis\n    address: 127.0.0.1:6379\n", file: "t.yml",
            baseDirectory: FileManager.default.temporaryDirectory).targets.first)
        #expect((target.prober.executorPreference as? RedisEventLoop) === loop)
    }

    /// Per probe at steady state: service_running's fresh connection gets its pipeline in one
    /// write; the six components on the pooled connection, resumed together when the gate
    /// passes, share one write. One write per pipeline would be seven.
    @Test func test_redisProbe_ofSevenComponents_makesTwoWrites() async throws {
        let redis = try await RedisServer.make()
        let loop = RedisEventLoop()
        let environment = ProberEnvironment(instanceID: "test", redisPools: RedisPools(loop: loop))
        let target = try #require(try ConfigLoader(environment: environment).parse(
            yaml: "targets:\n  t:\n    prober: redis\n    address: \(redis.address)\n", file: "t.yml",
            baseDirectory: FileManager.default.temporaryDirectory).targets.first)
        let warmUp = await ComponentRunner.run(target: target, deadline: .after(.seconds(5)), environment: environment)
        #expect(warmUp.success, "\(warmUp.failureSummary)")
        let probes = 10
        let before = loop.writes
        for _ in 0..<probes {
            let result = await ComponentRunner.run(target: target, deadline: .after(.seconds(5)), environment: environment)
            #expect(result.components.count == 7)
            #expect(result.success, "\(result.failureSummary)")
        }
        #expect(loop.writes - before == 2 * probes)
    }
}
