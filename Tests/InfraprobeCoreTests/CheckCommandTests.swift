import Foundation
import Testing
@testable import InfraprobeCore

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
        let (status, out, _) = try await run(["check", "--config.file", config])
        #expect(status == 0)
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
        let (status, out, _) = try await run(["check", "--config.file", config, "--format", "json"])
        #expect(status == 0)
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
}
