import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

@Suite("Consul prober against an API-faithful fake Consul")
struct ConsulProberTests {
    static let components = ["service_running", "cluster_healthy", "kv_store", "service_registration", "health_checks", "ui_accessible"]

    func withFake(token: String? = "s3cret-token", _ body: (FakeConsul) async throws -> Void) async throws {
        let fake = FakeConsul(token: token)
        try fake.start()
        // Stopping waits for in-flight handlers, which need the cooperative pool: stop off it.
        do { try await body(fake) } catch { await fake.stopOffPool(); throw error }
        await fake.stopOffPool()
    }

    func settings(_ fake: FakeConsul, token: String? = "s3cret-token") throws -> [String] {
        var lines = ["url: \(fake.url)"]
        if let token { lines.append("token_file: \(try ProbeHarness.secretFile(token))") }
        return lines
    }

    @Test("healthy Consul: all six components pass, facts and version are reported, nothing is left behind")
    func test_consulProbe_allComponentsUp_whenHealthy() async throws {
        try await withFake { fake in
            let before = fake.state.current
            let outcome = try await ProbeHarness.probe("consul", try settings(fake))
            #expect(outcome.allUp, "\(outcome.summary)")
            #expect(outcome.result.components.map(\.component) == Self.components)
            #expect(outcome.result.version == "1.20.1")
            #expect(outcome.fact("infraprobe_consul_raft_peers") == 3)
            #expect(outcome.fact("infraprobe_consul_health_checks", ["status": "passing"]) == 1)
            #expect(outcome.fact("infraprobe_consul_health_checks", ["status": "critical"]) == 1)
            #expect(outcome.fact("infraprobe_consul_health_checks", ["status": "warning"]) == 0)
            #expect(fake.state.current == before, "the probe left objects behind")
            let log = fake.requestLog.current
            #expect(log.contains { $0.contains("PUT /v1/kv/infraprobe/test-host-1/") && $0.contains("cas") })
            #expect(outcome.elapsed < .seconds(2))
        }
    }

    @Test("general faults: every component fails with the right reason before the deadline", arguments: GeneralFault.all)
    func test_consulProbe_reportsFault(_ fault: GeneralFault) async throws {
        try await withFake { fake in
            fake.fault = fault
            let outcome = try await ProbeHarness.probe("consul", try settings(fake))
            outcome.expectGeneralFault(fault)
        }
    }

    @Test("a rejected token: ACL-protected components report auth, the leader check still passes")
    func test_consulProbe_reportsAuth_whenTokenRejected() async throws {
        try await withFake { fake in
            let outcome = try await ProbeHarness.probe("consul", try settings(fake, token: "wrong-token"))
            #expect(outcome.up("service_running"))
            for component in ["cluster_healthy", "kv_store", "service_registration", "health_checks"] {
                #expect(outcome.reason(component) == .auth, "\(component): \(outcome.summary)")
            }
            #expect(fake.state.current.kv.isEmpty)
        }
    }

    @Test("component breaks: exactly the component that checks the broken feature fails",
          arguments: [
              (FakeConsul.Break.noLeader, "service_running", FailureReason.notReady),
              (.autopilotUnhealthy, "cluster_healthy", .unexpectedResponse),
              (.kvReadsOtherValue, "kv_store", .unexpectedResponse),
              (.catalogNeverShowsService, "service_registration", .timeout),
              (.ttlPassIgnored, "health_checks", .unexpectedResponse),
              (.uiDisabled, "ui_accessible", .unexpectedResponse),
          ])
    func test_consulProbe_failsComponent_whenFeatureBroken(_ breakage: FakeConsul.Break, _ component: String, _ reason: FailureReason) async throws {
        try await withFake { fake in
            fake.breakage.withLock { $0 = breakage }
            let before = fake.state.current
            let outcome = try await ProbeHarness.probe("consul", try settings(fake))
            #expect(outcome.reason(component) == reason, "\(outcome.summary)")
            if breakage != .noLeader {
                for other in Self.components where other != component {
                    #expect(outcome.up(other), "\(other) should pass: \(outcome.summary)")
                }
            }
            #expect(fake.state.current == before, "objects left behind after a failing step")
            #expect(outcome.elapsed < .seconds(2))
        }
    }

    @Test("the token never appears in steps or failure messages")
    func test_consulProbe_neverLeaksToken() async throws {
        try await withFake { fake in
            let outcome = try await ProbeHarness.probe("consul", try settings(fake, token: "wrong-token"))
            let text = outcome.result.components.flatMap { [$0.failure?.message ?? ""] + $0.steps.map(\.text) }.joined(separator: "\n")
            #expect(!text.contains("wrong-token"))
            #expect(!text.isEmpty)
        }
    }
}
