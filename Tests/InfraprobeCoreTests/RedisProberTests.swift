import Foundation
import Testing
@testable import InfraprobeCore

/// The Redis prober against a real redis-server: every component passes on a healthy server,
/// and each way Redis can break gives the right reason, fast.
@Suite("Redis prober against a real redis-server", .serialized)
struct RedisProberTests {
    static let allComponents = RedisProber.descriptor.componentNames

    @Test func test_redisProbe_passesEveryComponent_whenServerHealthy() async throws {
        let redis = try await RedisServer.make()
        let result = await Probe.run(try Probe.redis(redis.address))
        #expect(result.components.map(\.component) == Self.allComponents)
        #expect(result.success, "\(result.failureSummary)")
        #expect(result.version?.hasPrefix("7.") == true)
        let used = result.facts.first { $0.name == "infraprobe_redis_memory_used_bytes" }?.value ?? 0
        #expect(used > 0)
        #expect(result.facts.first { $0.name == "infraprobe_redis_memory_max_bytes" }?.value == 0)
    }

    @Test func test_redisProbe_leavesNoKeys_afterManyProbes() async throws {
        let redis = try await RedisServer.make()
        try redis.command(["SET", "app:existing", "1"])
        let before = try redis.command(["DBSIZE"])
        let target = try Probe.redis(redis.address)
        for _ in 0..<25 {
            let result = await Probe.run(target)
            #expect(result.success, "\(result.failureSummary)")
        }
        #expect(try redis.command(["DBSIZE"]) == before)
        #expect(try redis.command(["KEYS", "infraprobe:*"]) == .array([]))
    }

    @Test func test_redisProbe_createsKeysWithTTL_underItsNamespace() async throws {
        let redis = try await RedisServer.make()
        let result = await Probe.run(try Probe.redis(redis.address))
        #expect(result.success)
        let steps = result.components.flatMap(\.steps).map(\.text)
        let writes = steps.filter { $0.hasPrefix("SET ") || $0.contains("HSET ") || $0.contains("XADD ") || $0.contains("ZADD ") }
        #expect(!writes.isEmpty)
        for write in writes {
            #expect(write.contains("infraprobe:test:"), "write outside the namespace: \(write)")
            #expect(write.contains(" EX 60") || write.contains("EXPIRE "), "write without TTL: \(write)")
        }
    }

    /// Redis keys need no janitor: what a probe could not delete expires on its own.
    @Test func test_redisProbe_leftoverKeysExpire_whenItsDeletesAreRefused() async throws {
        let redis = try await RedisServer.make()
        try redis.command(["ACL", "SETUSER", "nodelete", "on", ">pw", "~*", "&*", "+@all", "-del", "-unlink"])
        let target = try Probe.redis(redis.address, extra: "username: nodelete\npassword_file: \(try ProbeHarness.secretFile("pw"))")
        let result = await Probe.run(target)
        #expect(!result.success, "the deletes were refused, so some component must fail")
        guard case .array(let keys) = try redis.command(["KEYS", "infraprobe:*"]) else { throw TestFailure("KEYS is not an array") }
        #expect(!keys.isEmpty, "refused deletes should have left keys, so this test proves nothing")
        for key in keys {
            guard case .bulk(let bytes) = key else { continue }
            let name = String(decoding: bytes, as: UTF8.self)
            let ttl = try redis.command(["TTL", name])
            guard case .integer(let seconds) = ttl else { throw TestFailure("TTL \(name) answered \(ttl)") }
            #expect((1...60).contains(seconds), "\(name) has TTL \(seconds): it would never expire")
        }
    }

    @Test func test_redisProbe_reportsConnectionRefused_whenServerStopped() async throws {
        let redis = try await RedisServer.make()
        redis.stop()
        let started = ContinuousClock.now
        let result = await Probe.run(try Probe.redis(redis.address))
        #expect(ContinuousClock.now - started < .seconds(1))
        #expect(result.reason("service_running") == .connectionRefused)
        for name in Self.allComponents.dropFirst() {
            #expect(result.reason(name) == .dependencyFailed, "\(name)")
        }
        #expect(result.healthRatio == 0)
    }

    @Test func test_redisProbe_reportsTimeout_whenServerHangs() async throws {
        let hole = try BlackHoleListener()
        let started = ContinuousClock.now
        let result = await Probe.run(try Probe.redis(hole.address), timeout: .milliseconds(800))
        let elapsed = ContinuousClock.now - started
        #expect(elapsed >= .milliseconds(700), "gave up before the deadline: \(elapsed)")
        #expect(elapsed < .milliseconds(1300), "answered late: \(elapsed)")
        #expect(result.reason("service_running") == .timeout)
        #expect(result.reason("basic_operations") == .dependencyFailed)
    }

    @Test func test_redisProbe_reportsTimeout_whenServerStopsAnsweringMidProbe() async throws {
        let redis = try await RedisServer.make()
        let target = try Probe.redis(redis.address)
        #expect(await Probe.run(target).success)  // pool now holds live connections
        kill(redis.pid, SIGSTOP)
        defer { kill(redis.pid, SIGCONT) }
        let started = ContinuousClock.now
        let result = await Probe.run(target, timeout: .milliseconds(600))
        #expect(ContinuousClock.now - started < .milliseconds(1100))
        #expect(result.reason("service_running") == .timeout)
    }

    /// While the shared connection answers, the others start once service_running is
    /// connected, not after its PING and INFO: their pipelines are on the wire with those.
    @Test func test_redisProbe_startsTheOtherComponents_beforeServiceRunningEnds_whenThePoolAnswers() async throws {
        let redis = try await RedisServer.make()
        let target = try Probe.redis(redis.address)
        #expect(await Probe.run(target).success)  // the pool's connection has answered
        let result = await Probe.run(target)
        #expect(result.success, "\(result.failureSummary)")
        let gate = try #require(result.components.first { $0.component == "service_running" })
        for other in result.components where other.component != "service_running" {
            #expect(other.startOffset < gate.startOffset + gate.duration, "\(other.component) waited for service_running to end")
        }
    }

    /// A server that stops answering costs one probe's pipelines on the shared connection; that
    /// probe reports them as the gate's fault, and the next probe does not attempt them at all.
    @Test func test_redisProbe_attemptsTheOthersOnlyOnce_whenServerStopsAnsweringAfterConnect() async throws {
        let redis = try await RedisServer.make()
        let target = try Probe.redis(redis.address)
        #expect(await Probe.run(target).success)
        kill(redis.pid, SIGSTOP)  // the kernel still completes connects: the gate connects, then hangs
        defer { kill(redis.pid, SIGCONT) }
        let first = await Probe.run(target, timeout: .milliseconds(500))
        #expect(first.reason("service_running") == .timeout)
        let firstBasic = try #require(first.components.first { $0.component == "basic_operations" }?.failure)
        #expect(firstBasic.reason == .dependencyFailed)
        #expect(firstBasic.message.hasPrefix("service_running failed (timeout) while this ran"), "\(firstBasic)")
        let second = await Probe.run(target, timeout: .milliseconds(500))
        #expect(second.reason("service_running") == .timeout)
        for name in Self.allComponents.dropFirst() {
            let failure = try #require(second.components.first { $0.component == name }?.failure)
            #expect(failure.reason == .dependencyFailed, "\(name)")
            #expect(failure.message.hasPrefix("not attempted"), "\(name): \(failure)")
        }
    }

    @Test func test_redisProbe_reportsAuth_whenPasswordWrong() async throws {
        let redis = try await RedisServer.make(["--requirepass", "right-password"])
        let result = await Probe.run(try Probe.redis(redis.address, extra: "password: wrong-password"))
        #expect(result.reason("service_running") == .auth)
        #expect(result.reason("basic_operations") == .auth)
        #expect(!result.failureSummary.contains("wrong-password"))
        let steps = result.components.flatMap(\.steps).map(\.text).joined()
        #expect(!steps.contains("wrong-password"))
        #expect(steps.contains("AUTH <secret>"))
    }

    @Test func test_redisProbe_reportsAuth_whenPasswordMissing() async throws {
        let redis = try await RedisServer.make(["--requirepass", "right-password"])
        let result = await Probe.run(try Probe.redis(redis.address))
        #expect(result.reason("service_running") == .auth)
    }

    @Test func test_redisProbe_passes_withACLUserAndPasswordFile() async throws {
        let redis = try await RedisServer.make()
        // The least-privilege user docs/ recommends: only the probe's key namespace, no dangerous commands.
        try redis.command(["ACL", "SETUSER", "exporter", "on", ">s3cret", "~infraprobe:*", "resetchannels",
                           "+@read", "+@write", "-@dangerous", "+ping", "+info", "+select", "+multi", "+exec"])
        let secretFile = redis.directory.appendingPathComponent("redis.pass")
        try "s3cret\n".write(to: secretFile, atomically: true, encoding: .utf8)
        let result = await Probe.run(try Probe.redis(redis.address, extra: "username: exporter\npassword_file: \(secretFile.path)\ndb: 3"))
        #expect(result.success, "\(result.failureSummary)")
        #expect(try redis.command(["DBSIZE"]) == .integer(0))
    }

    @Test func test_redisProbe_reportsResourceExhausted_whenMaxmemoryReached() async throws {
        let redis = try await RedisServer.make(["--maxmemory-policy", "noeviction"])
        try redis.command(["CONFIG", "SET", "maxmemory", "1"])
        let result = await Probe.run(try Probe.redis(redis.address))
        #expect(result.component("service_running")?.ok == true)
        for name in ["basic_operations", "cache_operations", "session_management", "stream_operations", "priority_queue", "memory_usage"] {
            #expect(result.reason(name) == .resourceExhausted, "\(name): \(result.failureSummary)")
        }
        #expect(result.facts.first { $0.name == "infraprobe_redis_memory_max_bytes" }?.value == 1)
    }

    @Test func test_redisProbe_failsMemoryUsage_whenAboveConfiguredRatio() async throws {
        let redis = try await RedisServer.make()
        let used = try #require(RedisInfo(try redis.command(["INFO", "memory"]).string ?? "")["used_memory"].flatMap(Int.init))
        try redis.command(["CONFIG", "SET", "maxmemory", "\(used * 2)"])
        let strict = await Probe.run(try Probe.redis(redis.address, extra: "max_memory_ratio: 0.2\ncomponents: [memory_usage]"))
        #expect(strict.reason("memory_usage") == .resourceExhausted)
        let relaxed = await Probe.run(try Probe.redis(redis.address, extra: "max_memory_ratio: 0.95\ncomponents: [memory_usage]"))
        #expect(relaxed.success, "\(relaxed.failureSummary)")
    }

    @Test func test_redisProbe_reportsNotReady_whileServerLoadsDataset() async throws {
        let redis = try await RedisServer.make(["--enable-debug-command", "yes"])
        try redis.command(["DEBUG", "POPULATE", "20000", "infraprobe-load-test"])
        try redis.command(["SAVE"])
        redis.stop()
        // Replaying 20000 keys at 300 µs each keeps Redis in LOADING for ~6 s while it still answers.
        try redis.start(["--dbfilename", "dump.rdb", "--key-load-delay", "300", "--loading-process-events-interval-bytes", "1024"])
        let result = await Probe.run(try Probe.redis(redis.address), timeout: .seconds(2))
        #expect(result.reason("service_running") == .notReady, "\(result.failureSummary)")
        #expect(result.reason("basic_operations") == .notReady)
    }

    @Test func test_redisProbe_reportsUnexpectedResponse_onReadOnlyReplica() async throws {
        let redis = try await RedisServer.make()
        try redis.command(["REPLICAOF", "127.0.0.1", "1"])
        let result = await Probe.run(try Probe.redis(redis.address, extra: "components: [service_running, basic_operations]"))
        #expect(result.component("service_running")?.ok == true)
        #expect(result.reason("basic_operations") == .unexpectedResponse)
        #expect(result.component("basic_operations")?.failure?.message.contains("READONLY") == true)
    }

    @Test func test_redisProbe_recovers_afterServerRestart() async throws {
        let redis = try await RedisServer.make()
        let target = try Probe.redis(redis.address)
        #expect(await Probe.run(target).success)
        redis.stop()
        #expect(await Probe.run(target).reason("service_running") == .connectionRefused)
        try redis.start()
        let result = await Probe.run(target)
        #expect(result.success, "stale pooled connections were not replaced: \(result.failureSummary)")
    }

    @Test func test_redisProbe_runsOnlyConfiguredComponents() async throws {
        let redis = try await RedisServer.make()
        let result = await Probe.run(try Probe.redis(redis.address, extra: "components: [priority_queue, service_running]"))
        #expect(result.components.map(\.component) == ["service_running", "priority_queue"])
        #expect(result.success)
    }
}
