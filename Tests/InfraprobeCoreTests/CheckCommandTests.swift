import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// `infraprobe check` and `--config.check`, run as the built binary the way cron or CI would.
@Suite("infraprobe check command", .serialized)
struct CheckCommandTests {
    static let binary: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/infraprobe").path
    }()

    func writeConfig(_ text: String, in redis: RedisServer) throws -> String {
        let file = redis.directory.appendingPathComponent("check.yml")
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    func run(_ arguments: [String]) async throws -> (Int32, String, String) {
        let binary = Self.binary
        return try await BlockingExecutor.shared.run { Result { try Shell.capture(binary, arguments) } }.get()
    }

    @Test func test_check_exitsZero_andMarksEveryComponent_whenAllPass() async throws {
        let redis = try await RedisServer.make()
        let config = try writeConfig("targets:\n  cache:\n    prober: redis\n    address: \(redis.address)\n", in: redis)
        let (status, out, err) = try await run(["check", "--config.file", config])
        #expect(status == 0, "\(out)\(err)")
        #expect(out.contains("cache (redis): 100.0% healthy, 7/7 components passed"))
        #expect(out.components(separatedBy: "✅").count - 1 == 7)
        #expect(out.contains("Overall infrastructure health: 100.0%"))
    }

    @Test func test_check_exitsOne_withReasons_whenSomeFail() async throws {
        let redis = try await RedisServer.make()
        let dead = try FreePort.pick()
        let config = try writeConfig("""
        targets:
          cache:
            prober: redis
            address: \(redis.address)
          gone:
            prober: redis
            address: 127.0.0.1:\(dead)
        """, in: redis)
        let (status, out, _) = try await run(["check", "--config.file", config])
        #expect(status == 1)
        #expect(out.contains("❌ service_running"))
        #expect(out.contains("connection_refused"))
        #expect(out.contains("Overall infrastructure health: 50.0% (7/14 components passed)"))
        let (onlyGood, _, _) = try await run(["check", "--config.file", config, "--target", "cache"])
        #expect(onlyGood == 0)
    }

    @Test func test_check_printsJSON_thatParses() async throws {
        let redis = try await RedisServer.make()
        let config = try writeConfig("targets:\n  cache:\n    prober: redis\n    address: \(redis.address)\n    components: [service_running, memory_usage]\n", in: redis)
        let (status, out, err) = try await run(["check", "--config.file", config, "--format", "json"])
        #expect(status == 0, "\(out)\(err)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        #expect(document["overall_health_ratio"] as? Double == 1)
        let targets = try #require(document["targets"] as? [[String: Any]])
        #expect((targets.first?["components"] as? [[String: Any]])?.map { $0["component"] as? String } == ["service_running", "memory_usage"])
    }

    @Test func test_check_exitsTwo_onConfigError_andConfigCheckExitsOne() async throws {
        let redis = try await RedisServer.make()
        let config = try writeConfig("targets:\n  cache:\n    prober: redis\n    address: h:1\n    colour: red\n", in: redis)
        let (status, _, err) = try await run(["check", "--config.file", config])
        #expect(status == 2)
        #expect(err.contains("check.yml:5: targets.cache.colour: unknown key"))
        let (checkStatus, _, checkErr) = try await run(["--config.file", config, "--config.check"])
        #expect(checkStatus == 1)
        #expect(checkErr.contains("unknown key"))
        let (unknownTarget, _, _) = try await run(["check", "--config.file", config, "--target", "nope"])
        #expect(unknownTarget == 2)
    }

    @Test func test_version_namesVersionRevisionAndSwift() async throws {
        let (status, out, _) = try await run(["--version"])
        #expect(status == 0)
        #expect(out.hasPrefix("infraprobe \(BuildInfo.version) (revision "))
        #expect(out.contains("Swift 6"))
    }

    /// An ArangoDB target whose drops hang: a 1 s probe leaves every object it created to the ledger.
    func hungArangoConfig(_ fake: FakeArangoDB) throws -> String {
        let file = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("check-arango-\(UInt32.random(in: 0...UInt32.max)).yml")
        try "targets:\n  arango:\n    prober: arangodb\n    timeout: 1s\n    url: \(fake.url)\n    username: root\n    password_file: \(try ProbeHarness.secretFile("pw"))\n"
            .write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    @Test func test_check_waitsForItsCleanup_beforeExiting_whenTheServiceHungMidProbe() async throws {
        let fake = FakeArangoDB()
        try fake.start()
        let before = fake.state.current
        fake.holdRequests.withLock { $0 = { $0.method == "DELETE" } }
        // The service recovers after the probes' 1 s deadline, while check is waiting.
        let release = Task {
            try? await Task.sleep(for: .milliseconds(2500))
            fake.holdRequests.withLock { $0 = nil }
        }
        let started = ContinuousClock.now
        let (status, out, err) = try await run(["check", "--config.file", try hungArangoConfig(fake), "--cleanup.wait", "10"])
        let elapsed = ContinuousClock.now - started
        await release.value
        #expect(status == 1, "\(out)\(err)")
        #expect(out.contains("timeout"))
        #expect(fake.state.current == before, "check exited leaving \(fake.state.current.databases.keys.sorted()) and collections behind")
        #expect(elapsed < .seconds(10), "check took \(elapsed)")
        #expect(!err.contains("still pending"), "\(err)")
        await fake.stopOffPool()
    }

    @Test func test_check_waitIsBounded_andSaysWhatIsLeft_whenTheServiceStaysHung() async throws {
        let fake = FakeArangoDB()
        try fake.start()
        fake.holdRequests.withLock { $0 = { $0.method == "DELETE" } }
        let started = ContinuousClock.now
        let (status, _, err) = try await run(["check", "--config.file", try hungArangoConfig(fake), "--cleanup.wait", "1"])
        let elapsed = ContinuousClock.now - started
        fake.holdRequests.withLock { $0 = nil }
        #expect(status == 1)
        #expect(err.contains("still pending after --cleanup.wait=1.0s"), "\(err)")
        // 1 s of probing, 1 s of waiting, and the start of a debug binary.
        #expect(elapsed < .seconds(5), "check took \(elapsed)")
        await fake.stopOffPool()
    }
}
