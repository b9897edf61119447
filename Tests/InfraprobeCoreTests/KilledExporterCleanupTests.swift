import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// `kill -9` of the real binary mid-probe leaves what its probe created; the janitor of the next
/// start finds those objects by name and age and removes them.
@Suite("Leftovers of a killed exporter", .serialized)
struct KilledExporterCleanupTests {
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await BlockingExecutor.shared.run { Result { try body() } }.get()
    }

    static func probeObjects(_ fake: FakeArangoDB) -> [String] {
        JanitorTests.names(fake).filter { ProbeObjectName.parse($0, prefix: "infraprobe", separator: "_") != nil }
    }

    @Test func test_janitorOfTheNextStart_removesWhatAKilledExporterLeftInArangoDB() async throws {
        let fake = FakeArangoDB()
        try fake.start()
        let clean = JanitorTests.names(fake)
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("killed-exporter-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("infraprobe.yml")
        try "targets:\n  arango:\n    prober: arangodb\n    timeout: 4s\n    url: \(fake.url)\n    username: root\n    password_file: \(try ProbeHarness.secretFile("pw"))\n"
            .write(to: config, atomically: true, encoding: .utf8)
        // Test-sized: objects older than 5 s (above the target's 4 s timeout) count as abandoned,
        // and the janitor looks every second, so the second exporter finds them soon after they age.
        let arguments = ["--janitor.min-age", "5s", "--janitor.interval", "1s"]

        // A slow service keeps the probe mid-way long enough to kill the exporter there.
        fake.latency.withLock { $0 = .milliseconds(300) }
        let first = try await Self.offPool { try SpawnedExporter(configFile: config.path, arguments: arguments, directory: directory) }
        let base = first.base
        let scrape = Task { try? await Self.offPool { try HTTPFetch.get(base + "/probe?target=arango", maxTime: 30) } }
        #expect(await CleanupLedgerTests.eventually(within: .seconds(10)) { Self.probeObjects(fake).count >= 3 },
                "the probe never created its objects: \(JanitorTests.names(fake))")
        first.signal(SIGKILL)
        let status = try await Self.offPool { first.process.wait() }
        #expect(status == 128 + SIGKILL)
        _ = await scrape.value
        // Requests already sent finish at the service; nothing more comes.
        try await Task.sleep(for: .milliseconds(1200))
        let leftovers = Self.probeObjects(fake)
        #expect(!leftovers.isEmpty, "the kill left nothing to sweep, so this test proves nothing")

        fake.latency.withLock { $0 = .zero }
        let second = try await Self.offPool { try SpawnedExporter(configFile: config.path, arguments: arguments, directory: directory) }
        #expect(await CleanupLedgerTests.eventually(within: .seconds(15)) { JanitorTests.names(fake) == clean },
                "after the next start the service still holds \(Self.probeObjects(fake))")
        let metrics = try await Self.offPool { try HTTPFetch.get(second.base + "/metrics") }.text
        let removed = metrics.split(separator: "\n").first { $0.hasPrefix("infraprobe_leftovers_removed_total{prober=\"arangodb\"}") }
        #expect(removed.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0 >= 1, "\(removed ?? "no counter")")
        #expect(metrics.contains("infraprobe_janitor_last_run_timestamp_seconds "))
        _ = try await Self.offPool { second.stop() }
        await fake.stopOffPool()
    }
}
