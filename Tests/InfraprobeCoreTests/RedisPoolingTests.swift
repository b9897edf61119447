import Foundation
import Testing
@testable import InfraprobeCore

/// How the Redis prober holds connections: `service_running` proves on a fresh, freshly
/// authenticated connection every probe that new clients get in, the other components share
/// one pooled connection per address and login, and many targets stay within a few
/// descriptors each and a fixed number of threads.
@Suite("Redis connection pooling", .serialized)
struct RedisPoolingTests {
    @Test func test_redisServiceRunning_reportsResourceExhausted_whenMaxclientsReached_whilePooledConnectionsWork() async throws {
        let redis = try await RedisServer.make()
        let target = try Probe.redis(redis.address)
        let first = await Probe.run(target)
        #expect(first.success, "\(first.failureSummary)")
        // The pooled connection stays; the side connection setting the limit closes after it.
        try redis.command(["CONFIG", "SET", "maxclients", "1"])
        try await waitUntil { (try? redis.command(["PING"])) != .status("PONG") }
        let result = await Probe.run(target)
        let failure = try #require(result.component("service_running")?.failure)
        #expect(failure.reason == .resourceExhausted, "\(failure) \(result.component("service_running")?.steps.map(\.text) ?? [])")
        #expect(failure.message.contains("max number of clients"), "\(failure)")
        #expect(result.component("basic_operations")?.ok == true, "\(result.failureSummary)")
    }

    @Test func test_redisServiceRunning_reportsAuth_whenRequirepassChanged_whileOldConnectionsStayOpen() async throws {
        let redis = try await RedisServer.make(["--requirepass", "old-secret"])
        let target = try Probe.redis(redis.address, extra: "password: old-secret")
        let first = await Probe.run(target)
        #expect(first.success, "\(first.failureSummary)")
        #expect(first.facts.contains { $0.name == "infraprobe_redis_auth_seconds" && $0.value > 0 })
        try redis.command(["CONFIG", "SET", "requirepass", "new-secret"], password: "old-secret")
        let result = await Probe.run(target)
        let failure = try #require(result.component("service_running")?.failure)
        #expect(failure.reason == .auth, "\(failure)")
        // The pooled connection logged in before the change still works: only a fresh AUTH shows it.
        #expect(result.component("basic_operations")?.ok == true, "\(result.failureSummary)")
    }

    @Test func test_redisServiceRunning_reportsConnectAndAuthSeconds() async throws {
        let redis = try await RedisServer.make(["--requirepass", "pw"])
        let result = await Probe.run(try Probe.redis(redis.address, extra: "password: pw"))
        #expect(result.success, "\(result.failureSummary)")
        let connect = try #require(result.facts.first { $0.name == "infraprobe_redis_connect_seconds" })
        let auth = try #require(result.facts.first { $0.name == "infraprobe_redis_auth_seconds" })
        #expect(connect.value > 0 && connect.value < 5)
        #expect(auth.value > 0 && auth.value < 5)
        #expect(result.component("service_running")?.steps.contains { $0.text.hasPrefix("AUTH <secret> → OK") } == true)
    }

    @Test func test_redisProbes_shareOnePooledConnection_perAddressAndLogin() async throws {
        let redis = try await RedisServer.make()
        let target = try Probe.redis(redis.address)
        for _ in 0..<5 {
            let result = await Probe.run(target)
            #expect(result.success, "\(result.failureSummary)")
        }
        // A module target for the same address (`/probe?module=…&target=…`) gets the same pool.
        let config = try Probe.config("modules:\n  cache:\n    prober: redis\n    allowed_targets: [\"127.0.0.0/8:*\"]\n")
        let module = try #require(config.module(named: "cache"))
        for _ in 0..<5 {
            let moduleTarget = try module.target(for: try ModuleTarget.parse(redis.address, allowsScheme: false).get())
            let result = await Probe.run(moduleTarget)
            #expect(result.success, "\(result.failureSummary)")
        }
        try await waitUntil { try connectedClients(redis) <= 2 }
        // The pooled connection plus the side connection asking.
        #expect(try connectedClients(redis) == 2)
    }

    @Test func test_redisPools_evictTheLeastRecentlyUsed_andIdlePools_closingTheirConnections() async throws {
        let redis = try await RedisServer.make(["--bind", "0.0.0.0", "--protected-mode", "yes"])
        let loop = RedisEventLoop(idleTimeout: .seconds(2), maxAge: .seconds(60))
        let pools = RedisPools(capacity: 2, loop: loop)
        let environment = ProberEnvironment(instanceID: "test", redisPools: pools)
        let addresses = ["127.0.0.1:\(redis.port)", "127.0.0.2:\(redis.port)", "127.0.0.3:\(redis.port)"]
        for address in addresses {
            let target = try #require(try ConfigLoader(environment: environment).parse(
                yaml: "targets:\n  t:\n    prober: redis\n    address: \(address)\n", file: "t.yml",
                baseDirectory: FileManager.default.temporaryDirectory).targets.first)
            #expect(await ComponentRunner.run(target: target, deadline: .after(.seconds(5)), environment: environment).success)
        }
        #expect(pools.count == 2)
        try await waitUntil { loop.openConnections <= 2 }
        #expect(loop.openConnections == 2, "the evicted pool's connection is still open")
        // Idle past the timeout: the loop closes the connections, the next lookup drops the pools.
        try await waitUntil(within: .seconds(8)) { loop.openConnections == 0 }
        try await Task.sleep(for: .seconds(1))
        _ = pools.pool(for: .tcp(host: "127.0.0.9", port: redis.port), login: RedisLogin())
        #expect(pools.count == 1)
    }

    @Test func test_redisPools_capacity_isHalfTheOpenFileLimit_withinBounds() {
        #expect(RedisPools.capacity(forOpenFileLimit: 1024) == 512)
        #expect(RedisPools.capacity(forOpenFileLimit: 20_000) == 10_000)
        #expect(RedisPools.capacity(forOpenFileLimit: 10) == 64)
        #expect(RedisPools.capacity(forOpenFileLimit: UInt64.max) == 1 << 20)
    }

    @Test func test_redisPools_atCapacity_evictTheOldestSixteenthAtOnce_keepingTheRecentlyUsed() {
        let pools = RedisPools(capacity: 32, loop: RedisEventLoop(idleTimeout: .seconds(60), maxAge: .seconds(60)))
        let login = RedisLogin()
        let address = { (index: Int) in RedisAddress.tcp(host: "127.0.1.\(index)", port: 6379) }
        let first = pools.pool(for: address(0), login: login)
        for index in 1..<32 { _ = pools.pool(for: address(index), login: login) }
        #expect(pools.pool(for: address(0), login: login) === first)
        _ = pools.pool(for: address(32), login: login)
        #expect(pools.count == 31)
        #expect(pools.pool(for: address(0), login: login) === first, "the recently used pool was evicted")
        #expect(pools.count == 31)
    }

    /// All of 127/8 reaches loopback on Linux, so each of these is a pool of its own on one server.
    @Test func test_exporter_probingAThousandRedisTargets_holdsAtMostTwoDescriptorsEach_andFewThreads() async throws {
        let count = 1000
        let redis = try await RedisServer.make(["--bind", "0.0.0.0", "--protected-mode", "yes", "--maxclients", "4000"])
        let exporter = try await spawnExporter(redis: redis, configNamed: "many.yml", targets: count) { index in
            "address: 127.0.\(index / 250 + 1).\(index % 250 + 1):\(redis.port)\n    timeout: 20s"
        }
        let pid = exporter.process.pid
        let idleDescriptors = ProcessStats.descriptors(pid)
        for round in 0..<2 {
            let peakThreads = Locked(0)
            let sampling = Task {
                while !Task.isCancelled {
                    let threads = ProcessStats.threads(pid)
                    peakThreads.withLock { $0 = max($0, threads) }
                    try? await Task.sleep(for: .milliseconds(5))
                }
            }
            let probed = try await BlockingExecutor.shared.run {
                Result { try HTTPFetch.get(exporter.base + "/probe", maxTime: 60) }
            }.get()
            sampling.cancel()
            _ = await sampling.value
            #expect(probed.status == 200)
            let passing = probed.text.split(separator: "\n").filter { $0.hasPrefix("probe_success{") && $0.hasSuffix(" 1") }.count
            #expect(passing == count, "round \(round): \(passing) of \(count) targets pass")
            #expect(peakThreads.current <= 64, "round \(round): \(peakThreads.current) threads")
            let descriptors = ProcessStats.descriptors(pid)
            #expect(descriptors <= idleDescriptors + 2 * count, "round \(round): \(idleDescriptors) → \(descriptors) descriptors")
        }
        // Steady state: one pooled connection per target (fresh ones are closed after each probe).
        try await waitUntil(within: .seconds(5)) { try connectedClients(redis) <= count + 1 }
        #expect(try connectedClients(redis) <= count + 1)
        #expect(ProcessStats.descriptors(pid) <= idleDescriptors + count + 8)
        let status = await BlockingExecutor.shared.run { exporter.stop() }
        #expect(status == 0)
    }

    @Test func test_exporter_reportsResourceExhausted_notProtocolOrRefused_whenOutOfDescriptors() async throws {
        let count = 60
        let redis = try await RedisServer.make(["--bind", "0.0.0.0", "--protected-mode", "yes"])
        // Room for the exporter's own descriptors and a few probes, not for 60 targets' connections.
        let exporter = try await spawnExporter(redis: redis, configNamed: "few-fds.yml", targets: count,
                                               launcher: ["/usr/bin/prlimit", "--nofile=48:48"]) { index in
            "address: 127.0.9.\(index + 1):\(redis.port)"
        }
        let probed = try await BlockingExecutor.shared.run {
            Result { try HTTPFetch.get(exporter.base + "/probe", maxTime: 30) }
        }.get()
        #expect(probed.status == 200, "\(probed.text.prefix(300))")
        let failures = probed.text.split(separator: "\n").filter { $0.hasPrefix("probe_component_failure") || $0.contains("reason=\"") }
        #expect(failures.contains { $0.contains("reason=\"resource_exhausted\"") }, "\(failures.prefix(5))")
        #expect(!failures.contains { $0.contains("reason=\"protocol\"") || $0.contains("reason=\"connection_refused\"") },
                "\(failures.filter { !$0.contains("resource_exhausted") }.prefix(5))")
        // And it goes on serving once descriptors are free again.
        let healthy = try await BlockingExecutor.shared.run { Result { try HTTPFetch.get(exporter.base + "/-/healthy", maxTime: 5) } }.get()
        #expect(healthy.status == 200)
        let status = await BlockingExecutor.shared.run { exporter.stop() }
        #expect(status == 0)
    }

    @Test func test_redisConnection_skipsTheRepliesOwedToATimedOutPipeline_neverGivingThemToTheNext() async throws {
        let redis = try await RedisServer.make()
        let connection = RedisConnection.open(to: .tcp(host: "127.0.0.1", port: redis.port), deadline: .after(.seconds(2)))
        defer { connection.close() }
        // Answered after 300 ms, past its 100 ms deadline; the PING behind it is answered after that.
        let slow = connection.send([["BLPOP", "infraprobe:test:absent", "0.3"]], before: .after(.milliseconds(100)))
        let next = connection.send([["PING"]], before: .after(.seconds(2)))
        do {
            let replies = try await slow.value()
            Issue.record("answered past its deadline: \(replies)")
        } catch {
            #expect(error.kind == .timeout, "\(error)")
        }
        #expect(try await next.value() == [.status("PONG")])
        #expect(!connection.isUsable, "a connection owing replies to an abandoned pipeline takes no new work")
    }

    /// An exporter whose config, in the redis server's directory, has `count` redis targets
    /// `r0`, `r1`, …; `settings(index)` gives each its address and any further settings.
    private func spawnExporter(redis: RedisServer, configNamed name: String, targets count: Int, launcher: [String] = [],
                               settings: (Int) -> String) async throws -> SpawnedExporter {
        var yaml = "targets:\n"
        for index in 0..<count {
            yaml += "  r\(index):\n    prober: redis\n    \(settings(index))\n"
        }
        let configFile = redis.directory.appendingPathComponent(name)
        try yaml.write(to: configFile, atomically: true, encoding: .utf8)
        return try await BlockingExecutor.shared.run {
            Result { try SpawnedExporter(configFile: configFile.path, directory: redis.directory, launcher: launcher) }
        }.get()
    }

    private func connectedClients(_ redis: RedisServer) throws -> Int {
        let info = RedisInfo(try redis.command(["INFO", "clients"]).string ?? "")
        return try info.count("connected_clients").map(Int.init) ?? -1
    }

    private func waitUntil(within limit: Duration = .seconds(2), _ condition: () throws -> Bool) async throws {
        let end = ContinuousClock.now + limit
        while try !condition() {
            if ContinuousClock.now >= end { return }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
