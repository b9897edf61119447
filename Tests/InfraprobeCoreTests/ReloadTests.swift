import Foundation
import Testing
@testable import InfraprobeCore

@Suite("Reload", .serialized)
struct ReloadTests {
    static func config(address: String, timeout: String = "1s", extra: String = "") -> String {
        "targets:\n  flaky:\n    prober: redis\n    address: \(address)\n    timeout: \(timeout)\n" + extra
    }

    @Test func test_probeInFlight_finishesWithTheConfigItStartedWith() async throws {
        let redis = try await RedisServer.make()
        let hole = try BlackHoleListener()
        let exporter = try TestExporter(config: Self.config(address: hole.address))
        let url = exporter.base + "/probe?target=flaky"
        // The old config points at a black hole: this probe runs into its 1 s timeout.
        async let old = HTTPFetch.getOffPool(url)
        // Reload only once that probe is really running (curl may start late on a busy machine).
        for _ in 0..<300 where exporter.runtime.server.inFlightCount == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(exporter.runtime.server.inFlightCount == 1)
        try Self.config(address: redis.address, timeout: "3s").write(to: exporter.configFile, atomically: true, encoding: .utf8)
        #expect(try await exporter.get("/-/reload", method: "POST").status == 200)
        // A scrape after the reload does not join the old probe (that one can only time out):
        // it runs with the new config and succeeds.
        let new = try await exporter.get("/probe?target=flaky")
        #expect(new.text.contains("probe_success{target=\"flaky\"} 1"), "\(new.text)")
        let oldResponse = try await old
        #expect(oldResponse.status == 200)
        #expect(oldResponse.text.contains("probe_success{target=\"flaky\"} 0"))
        #expect(oldResponse.text.contains("component=\"service_running\",reason=\"timeout\""))
        // The history keeps each probe's own settings.
        let history = exporter.runtime.service.history
        #expect(history.count == 2)
        let oldRecord = try #require(history.first { !$0.result.success })
        #expect(oldRecord.settings.contains(RedactedSetting(key: "address", value: hole.address)))
        #expect(oldRecord.settings.contains(RedactedSetting(key: "timeout", value: "1s")))
        #expect(history.first { $0.result.success }?.settings.contains(RedactedSetting(key: "address", value: redis.address)) == true)
    }

    @Test func test_sighup_reloads_keepsOldConfigOnError_andSIGTERMExitsCleanly() async throws {
        let redis = try await RedisServer.make()
        let configFile = redis.directory.appendingPathComponent("sighup.yml")
        try Self.config(address: redis.address).write(to: configFile, atomically: true, encoding: .utf8)
        let exporter = try await BlockingExecutor.shared.run {
            Result { try SpawnedExporter(configFile: configFile.path, directory: redis.directory) }
        }.get()
        let base = exporter.base
        func get(_ path: String) async throws -> String {
            try await BlockingExecutor.shared.run { Result { try HTTPFetch.get(base + path, maxTime: 5).text } }.get()
        }
        func waitForMetric(_ line: String) async throws -> Bool {
            for _ in 0..<100 {
                if try await get("/metrics").contains(line) { return true }
                try await Task.sleep(for: .milliseconds(20))
            }
            return false
        }
        try Self.config(address: redis.address, extra: "  second:\n    prober: redis\n    address: \(redis.address)\n")
            .write(to: configFile, atomically: true, encoding: .utf8)
        exporter.signal(SIGHUP)
        #expect(try await waitForMetric("infraprobe_config_last_reload_successful 1"))
        #expect(try await get("/probe?target=second").contains("probe_success{target=\"second\"} 1"))

        try "targets: [\n".write(to: configFile, atomically: true, encoding: .utf8)
        exporter.signal(SIGHUP)
        #expect(try await waitForMetric("infraprobe_config_last_reload_successful 0"))
        #expect(try await get("/probe?target=second").contains("probe_success{target=\"second\"} 1"), "the old config stays")
        #expect(exporter.log.contains("configuration reload failed"))
        #expect(exporter.log.contains("sighup.yml:"), "the log names the file and line")
        let status = await BlockingExecutor.shared.run { exporter.stop() }
        #expect(status == 0)
    }
}
