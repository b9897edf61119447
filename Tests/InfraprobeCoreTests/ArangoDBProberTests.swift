import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

@Suite("ArangoDB prober against an API-faithful fake ArangoDB")
struct ArangoDBProberTests {
    static let components = ["service_running", "database_operations", "collection_operations", "document_operations",
                             "graph_operations", "metadata_operations", "telemetry_operations", "performance_metrics"]

    func withFake(_ fake: FakeArangoDB = FakeArangoDB(), _ body: (FakeArangoDB) async throws -> Void) async throws {
        try fake.start()
        // Stopping waits for in-flight handlers, which need the cooperative pool: stop off it.
        do { try await body(fake) } catch { await fake.stopOffPool(); throw error }
        await fake.stopOffPool()
    }

    func settings(_ fake: FakeArangoDB, password: String = "pw") throws -> [String] {
        ["url: \(fake.url)", "username: root", "password_file: \(try ProbeHarness.secretFile(password))"]
    }

    @Test("healthy ArangoDB (202 and 201 write statuses): all eight components pass, facts reported, nothing left behind",
          arguments: [false, true])
    func test_arangoProbe_allComponentsUp_whenHealthy(waitForSync: Bool) async throws {
        try await withFake(FakeArangoDB(waitForSync: waitForSync)) { fake in
            let before = fake.state.current
            let outcome = try await ProbeHarness.probe("arangodb", try settings(fake))
            #expect(outcome.allUp, "\(outcome.summary)")
            #expect(outcome.result.components.map(\.component) == Self.components)
            #expect(outcome.result.version == "3.12.10")
            #expect(outcome.fact("infraprobe_arangodb_resident_memory_bytes") == 299249664)
            #expect(outcome.fact("infraprobe_arangodb_uptime_seconds") == 32.4699)
            #expect(fake.state.current == before, "the probe left databases, collections or graphs behind")
            let log = fake.requestLog.current
            #expect(log.contains { $0.contains("POST /_db/_system/_api/database") })
            #expect(log.contains { $0.contains("PATCH /_db/_system/_api/document/infraprobe_test_host_1_") })
        }
    }

    @Test("ArangoDB 3.11 and 3.12 (the recorded versions): every component passes and the version is reported",
          arguments: ["3.11.14", "3.12.10"])
    func test_arangoProbe_allUp_acrossVersions(version: String) async throws {
        try await withFake(FakeArangoDB(version: version)) { fake in
            let outcome = try await ProbeHarness.probe("arangodb", try settings(fake))
            #expect(outcome.allUp, "\(outcome.summary)")
            #expect(outcome.result.version == version)
            #expect(outcome.fact("infraprobe_arangodb_cpu_cores") == 8)
        }
    }

    @Test("read-only server: availability 200 mode readonly fails service_running, and refused writes are not_ready, never auth",
          arguments: ["3.11.14", "3.12.10"])
    func test_arangoProbe_readOnly_isNotReady(version: String) async throws {
        try await withFake(FakeArangoDB(version: version)) { fake in
            fake.readOnly.withLock { $0 = true }
            let before = fake.state.current
            let outcome = try await ProbeHarness.probe("arangodb", try settings(fake))
            #expect(outcome.reason("service_running") == .notReady, "\(outcome.summary)")
            for component in ["database_operations", "collection_operations", "document_operations", "graph_operations",
                              "metadata_operations", "telemetry_operations"] {
                #expect(outcome.reason(component) == .notReady, "\(component): \(outcome.summary)")
            }
            #expect(outcome.up("performance_metrics"), "reads still work: \(outcome.summary)")
            #expect(fake.state.current == before)
        }
    }

    @Test("token: a JWT goes as Bearer, a 3.12 access token as the password of an empty user; a 3.11 server rejects the access token")
    func test_arangoProbe_token_isSentTheWayArangoDBTakesIt() async throws {
        try await withFake(FakeArangoDB(version: "3.12.10")) { fake in
            let jwt = try await ProbeHarness.probe("arangodb", ["url: \(fake.url)", "token_file: \(try ProbeHarness.secretFile(fake.superuserJWT))"])
            #expect(jwt.allUp, "\(jwt.summary)")
            let access = try await ProbeHarness.probe("arangodb", ["url: \(fake.url)", "token_file: \(try ProbeHarness.secretFile(fake.accessToken))"])
            #expect(access.allUp, "\(access.summary)")
        }
        try await withFake(FakeArangoDB(version: "3.11.14")) { fake in
            let access = try await ProbeHarness.probe("arangodb", ["url: \(fake.url)", "token_file: \(try ProbeHarness.secretFile(fake.accessToken))"])
            #expect(access.reason("database_operations") == .auth, "\(access.summary)")
        }
    }

    @Test("general faults: every component fails with the right reason before the deadline", arguments: GeneralFault.all)
    func test_arangoProbe_reportsFault(_ fault: GeneralFault) async throws {
        try await withFake { fake in
            fake.fault = fault
            let outcome = try await ProbeHarness.probe("arangodb", try settings(fake))
            outcome.expectGeneralFault(fault)
        }
    }

    @Test("wrong password: every authenticated component reports auth, and the password never shows")
    func test_arangoProbe_reportsAuth_whenPasswordRejected() async throws {
        try await withFake { fake in
            let outcome = try await ProbeHarness.probe("arangodb", try settings(fake, password: "not-the-password"))
            for component in Self.components {
                #expect(outcome.reason(component) == .auth, "\(component): \(outcome.summary)")
            }
            let text = outcome.result.components.flatMap { [$0.failure?.message ?? ""] + $0.steps.map(\.text) }.joined()
            #expect(!text.contains("not-the-password"))
        }
    }

    @Test("component breaks: exactly the component that checks the broken feature fails, and cleans up",
          arguments: [
              (FakeArangoDB.Break.unavailable, "service_running", FailureReason.notReady),
              (.databaseNotListed, "database_operations", .unexpectedResponse),
              (.collectionDropIgnored, "collection_operations", .httpStatus),
              (.patchIgnored, "document_operations", .unexpectedResponse),
              (.traversalEmpty, "graph_operations", .unexpectedResponse),
              (.indexNotListed, "metadata_operations", .unexpectedResponse),
              (.aggregateWrong, "telemetry_operations", .unexpectedResponse),
              (.metricsDisabled, "performance_metrics", .httpStatus),
          ])
    func test_arangoProbe_failsComponent_whenFeatureBroken(_ breakage: FakeArangoDB.Break, _ component: String, _ reason: FailureReason) async throws {
        try await withFake { fake in
            fake.breakage.withLock { $0 = breakage }
            let before = fake.state.current
            let outcome = try await ProbeHarness.probe("arangodb", try settings(fake))
            #expect(outcome.reason(component) == reason, "\(outcome.summary)")
            for other in Self.components where other != component {
                // An ignored DROP also leaves the other components' collections; only they can't notice.
                #expect(outcome.up(other) || breakage == .collectionDropIgnored, "\(other) should pass: \(outcome.summary)")
            }
            if breakage != .collectionDropIgnored {
                #expect(fake.state.current == before, "objects left behind after a failing step")
            }
        }
    }
}
