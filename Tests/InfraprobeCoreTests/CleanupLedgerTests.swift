import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// Removals a probe could not finish in its time: the probe still answers by its deadline, and
/// the ledger removes what it left once the service answers again.
@Suite("Cleanup ledger: what a hung service kept is removed after the answer")
struct CleanupLedgerTests {
    /// Test-sized: short tries, quick retries, enough of them to outlast the hang.
    static func ledger() -> CleanupLedger {
        var options = CleanupLedger.Options()
        options.attemptTimeout = .milliseconds(300)
        options.firstRetryDelay = .milliseconds(50)
        options.maxAttempts = 30
        return CleanupLedger(options: options)
    }

    static func counter(_ metrics: SelfMetrics, _ family: String, prober: String) -> Double {
        metrics.families().first { $0.name == family }?.samples.first { $0.labels.contains(MetricFamily.Label("prober", prober)) }?.value ?? 0
    }

    /// Polls `condition` for up to `limit`.
    static func eventually(within limit: Duration = .seconds(2), _ condition: () -> Bool) async -> Bool {
        let deadline = Deadline.after(limit)
        while !condition() {
            if deadline.hasPassed { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    static func gauge(_ metrics: SelfMetrics, _ family: String) -> Double? {
        metrics.families().first { $0.name == family }?.samples.first?.value
    }

    @Test("ArangoDB hangs on every drop mid-probe: the probe answers by its deadline, the ledger drops the databases, collections and graphs afterwards and counts them")
    func test_arangoProbe_leavesNothing_whenServiceHangsBeforeTheDrops() async throws {
        let fake = FakeArangoDB()
        try fake.start()
        let ledger = Self.ledger()
        let metrics = SelfMetrics(version: "test", revision: "test")
        ledger.report(to: metrics)
        let environment = ProberEnvironment(instanceID: "test-host-1", cleanupLedger: ledger)
        let before = fake.state.current
        fake.holdRequests.withLock { $0 = { $0.method == "DELETE" } }
        let outcome = try await ProbeHarness.probe("arangodb", ["url: \(fake.url)", "username: root",
                                                                "password_file: \(try ProbeHarness.secretFile("pw"))"],
                                                   environment: environment)
        #expect(outcome.elapsed < .seconds(2), "the answer waited for cleanup: \(outcome.elapsed)")
        for component in ["database_operations", "collection_operations", "graph_operations", "document_operations"] {
            #expect(outcome.reason(component) == .timeout, "\(outcome.summary)")
        }
        #expect(fake.state.current != before, "the hang should have kept the probe's objects")
        // The cancelled components hand their removals over just after the answer.
        // One database, four collections (collection, document, metadata, telemetry), one graph.
        let pending = 6
        #expect(await Self.eventually { ledger.pending == pending }, "pending: \(ledger.pending)")
        #expect(Self.gauge(metrics, "infraprobe_cleanup_pending") == Double(pending))

        fake.holdRequests.withLock { $0 = nil }
        let left = await ledger.drain(within: .seconds(10))
        #expect(left == 0)
        #expect(fake.state.current == before, "the ledger left objects behind: \(fake.state.current.databases.keys.sorted())")
        #expect(Self.counter(metrics, "infraprobe_leftovers_found", prober: "arangodb") == Double(pending))
        #expect(Self.counter(metrics, "infraprobe_leftovers_removed", prober: "arangodb") == Double(pending))
        #expect(Self.gauge(metrics, "infraprobe_cleanup_pending") == 0)
        await fake.stopOffPool()
    }

    @Test("Consul hangs on the KV delete and the deregistration mid-probe: the answer keeps its deadline, the ledger removes the key and the service afterwards")
    func test_consulProbe_leavesNothing_whenServiceHangsBeforeTheDeletes() async throws {
        let fake = FakeConsul(token: "s3cret-token")
        try fake.start()
        let ledger = Self.ledger()
        let metrics = SelfMetrics(version: "test", revision: "test")
        ledger.report(to: metrics)
        let environment = ProberEnvironment(instanceID: "test-host-1", cleanupLedger: ledger)
        fake.holdRequests.withLock {
            $0 = { request in
                (request.method == "DELETE" && request.path.hasPrefix("/v1/kv/")) || request.path.hasPrefix("/v1/agent/service/deregister/")
            }
        }
        let outcome = try await ProbeHarness.probe("consul", try ConsulProberTests().settings(fake), environment: environment)
        #expect(outcome.elapsed < .seconds(2), "the answer waited for cleanup: \(outcome.elapsed)")
        #expect(outcome.reason("kv_store") == .timeout, "\(outcome.summary)")
        #expect(!fake.state.current.kv.isEmpty, "the hang should have kept the probe's key")
        // The KV key and service_registration's service; health_checks' long-lived probe service stays by design.
        #expect(await Self.eventually { ledger.pending == 2 }, "pending: \(ledger.pending)")

        fake.holdRequests.withLock { $0 = nil }
        #expect(await ledger.drain(within: .seconds(10)) == 0)
        #expect(fake.state.current.kv.isEmpty, "left: \(fake.state.current.kv.keys.sorted())")
        #expect(fake.state.current.services.keys.filter { $0.hasPrefix("infraprobe") } == ["infraprobe-test-host-1"],
                "left: \(fake.state.current.services.keys.sorted())")
        #expect(Self.counter(metrics, "infraprobe_leftovers_found", prober: "consul") == 2)
        #expect(Self.counter(metrics, "infraprobe_leftovers_removed", prober: "consul") == 2)
        await fake.stopOffPool()
    }

    @Test("bounded: past its capacity a removal is dropped and counted abandoned; out of tries it is given up; each try has its own deadline")
    func test_ledger_staysBounded_whenRemovalsKeepFailing() async throws {
        var options = CleanupLedger.Options()
        options.capacity = 2
        options.maxAttempts = 3
        options.attemptTimeout = .milliseconds(100)
        options.firstRetryDelay = .milliseconds(10)
        let ledger = CleanupLedger(options: options)
        let metrics = SelfMetrics(version: "test", revision: "test")
        ledger.report(to: metrics)
        let tries = Locked(0)
        let hanging = PendingCleanup(prober: "p", target: "t", what: "DELETE /x") { deadline in
            tries.withLock { $0 += 1 }
            // A hung service: the try ends only at its own deadline.
            try? await Task.sleep(for: deadline.remaining)
            return false
        }
        for _ in 0..<3 { ledger.record(hanging) }
        #expect(ledger.pending <= 2)
        let started = ContinuousClock.now
        #expect(await ledger.drain(within: .seconds(5)) == 0)
        #expect(ContinuousClock.now - started < .seconds(2), "three 100 ms tries each should not take long")
        #expect(tries.current == 6, "two accepted removals × three tries")
        #expect(Self.counter(metrics, "infraprobe_leftovers_found", prober: "p") == 3)
        #expect(Self.counter(metrics, "infraprobe_cleanups_abandoned", prober: "p") == 3)
        #expect(Self.counter(metrics, "infraprobe_leftovers_removed", prober: "p") == 0)
    }

    @Test("a component that fails early keeps its own reason when the service then hangs on the removal: the inline drop stops short of the deadline and the ledger takes it")
    func test_failedComponent_keepsItsReason_whenItsCleanupHangs() async throws {
        let fake = FakeArangoDB()
        try fake.start()
        let ledger = Self.ledger()
        let environment = ProberEnvironment(instanceID: "test-host-1", cleanupLedger: ledger)
        let before = fake.state.current
        fake.breakage.withLock { $0 = .patchIgnored }
        fake.holdRequests.withLock { $0 = { $0.method == "DELETE" } }
        let outcome = try await ProbeHarness.probe("arangodb", ["url: \(fake.url)", "username: root", "password_file: \(try ProbeHarness.secretFile("pw"))",
                                                                "components: [service_running, document_operations]"],
                                                   environment: environment)
        #expect(outcome.reason("document_operations") == .unexpectedResponse, "\(outcome.summary)")
        #expect(outcome.elapsed < .seconds(2), "\(outcome.elapsed)")
        #expect(await Self.eventually { ledger.pending == 1 }, "pending: \(ledger.pending)")
        fake.holdRequests.withLock { $0 = nil }
        #expect(await ledger.drain(within: .seconds(10)) == 0)
        #expect(fake.state.current == before)
        await fake.stopOffPool()
    }

    @Test("exporter shutdown waits (bounded) for the removals a hung service held up, once the service answers again")
    func test_exporterShutdown_drainsPendingRemovals() async throws {
        let fake = FakeArangoDB()
        try fake.start()
        let before = fake.state.current
        let file = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("shutdown-drain-\(UInt32.random(in: 0...UInt32.max)).yml")
        try "targets:\n  arango:\n    prober: arangodb\n    timeout: 1s\n    url: \(fake.url)\n    username: root\n    password_file: \(try ProbeHarness.secretFile("pw"))\n"
            .write(to: file, atomically: true, encoding: .utf8)
        var settings = ExporterRuntime.Settings(configFile: file.path, listen: ListenAddress("127.0.0.1:0")!)
        settings.cleanupLedger = Self.ledger().options
        let runtime = try ExporterRuntime(settings: settings)
        try runtime.start()
        fake.holdRequests.withLock { $0 = { $0.method == "DELETE" } }
        let url = "http://127.0.0.1:\(runtime.server.port)/probe?target=arango"
        let answer = try await BlockingExecutor.shared.run { Result { try HTTPFetch.get(url) } }.get()
        #expect(answer.status == 200)
        #expect(answer.text.contains("probe_success{target=\"arango\"} 0"), "\(answer.text)")
        #expect(await Self.eventually { runtime.cleanupLedger.pending == 6 }, "pending: \(runtime.cleanupLedger.pending)")
        let release = Task {
            try? await Task.sleep(for: .milliseconds(500))
            fake.holdRequests.withLock { $0 = nil }
        }
        await runtime.stopOffPool()
        await release.value
        #expect(runtime.cleanupLedger.pending == 0)
        #expect(fake.state.current == before, "shutdown left \(fake.state.current.databases.keys.sorted()) and collections behind")
        await fake.stopOffPool()
    }
}
