import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

@Suite("Consul prober against an API-faithful fake Consul")
struct ConsulProberTests {
    static let components = ["service_running", "cluster_healthy", "kv_store", "service_registration", "health_checks", "ui_accessible"]
    /// Releases users run today, including 1.21.5 with its strict KV key validation.
    static let versions: [FakeVersion] = ["1.15.4", "1.18.2", "1.20.1", "1.21.5", "1.22.0"]

    func withFake(token: String? = "s3cret-token", version: FakeVersion = "1.21.4", _ body: (FakeConsul) async throws -> Void) async throws {
        let fake = FakeConsul(token: token, version: version)
        try fake.start()
        // Stopping waits for in-flight handlers, which need the cooperative pool: stop off it.
        do { try await body(fake) } catch { await fake.stopOffPool(); throw error }
        await fake.stopOffPool()
    }

    func settings(_ fake: FakeConsul, token: String? = "s3cret-token", extra: [String] = []) throws -> [String] {
        var lines = ["url: \(fake.url)"]
        if let token { lines.append("token_file: \(try ProbeHarness.secretFile(token))") }
        return lines + extra
    }

    /// The harness exporter's long-lived probe service (health_checks keeps it, by design).
    static let probeService = "infraprobe-test-host-1"

    /// What a probe may not leave behind: everything but the exporter's one probe service.
    func objects(_ fake: FakeConsul) -> [String] {
        let state = fake.state.current
        return state.kv.keys.sorted() + state.services.keys.sorted().filter { $0 != Self.probeService }
            + state.checks.keys.sorted().filter { $0 != Self.probeService + "-ttl" }
    }

    @Test("healthy Consul of each version: all six components pass, facts and version are reported, nothing is left behind",
          arguments: versions)
    func test_consulProbe_allComponentsUp_whenHealthy(version: FakeVersion) async throws {
        try await withFake(version: version) { fake in
            let before = objects(fake)
            let outcome = try await ProbeHarness.probe("consul", try settings(fake))
            #expect(outcome.allUp, "\(outcome.summary)")
            #expect(outcome.result.components.map(\.component) == Self.components)
            #expect(outcome.result.version == version.description)
            #expect(outcome.fact("infraprobe_consul_raft_peers") == 3)
            #expect(outcome.fact("infraprobe_consul_health_checks", ["status": "critical"]) == 1)
            #expect(outcome.fact("infraprobe_consul_health_checks", ["status": "warning"]) == 0)
            #expect(objects(fake) == before, "the probe left objects behind")
            #expect(fake.state.current.services[Self.probeService]?["Meta"]?["infraprobe_role"]?.string == "probe")
            #expect(fake.state.current.checks[Self.probeService + "-ttl"]?["Status"]?.string == "passing")
            let log = fake.requestLog.current
            #expect(log.contains { $0.contains("PUT /v1/kv/infraprobe/test-host-1/") && $0.contains("cas") })
            #expect(outcome.elapsed < .seconds(2))
        }
    }

    @Test("cluster-wide check counts read only the non-passing states, never the whole DC")
    func test_consulProbe_readsOnlyNonPassingStates() async throws {
        try await withFake { fake in
            for n in 0..<50 { fake.seedService("bulk", id: "bulk-\(n)", port: 1000 + n) }
            fake.seedService("db", id: "db-1", port: 5432, status: "warning")
            let outcome = try await ProbeHarness.probe("consul", try settings(fake))
            #expect(outcome.up("health_checks"), "\(outcome.summary)")
            #expect(outcome.fact("infraprobe_consul_health_checks", ["status": "warning"]) == 1)
            #expect(outcome.fact("infraprobe_consul_health_checks", ["status": "critical"]) == 1)
            let log = fake.requestLog.current
            #expect(!log.contains { $0.contains("/v1/health/state/any") || $0.contains("/v1/health/state/passing") })
            #expect(log.contains { $0.contains("/v1/health/state/critical") })
        }
    }

    @Test("the UI probe asks for the head of the ~0.8 MB index page only")
    func test_consulProbe_uiReadsOnlyTheHead() async throws {
        try await withFake { fake in
            #expect(FakeConsul.uiPage.utf8.count > 500_000)
            let outcome = try await ProbeHarness.probe("consul", try settings(fake))
            let step = try #require(outcome.component("ui_accessible")?.steps.first { $0.text.contains("GET") && $0.text.contains("/ui/") })
            #expect(step.text.contains("206"), "\(step.text)")
            #expect(step.text.contains("(65536 B"), "\(step.text)")
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
              (FakeConsul.Break.autopilotUnhealthy, "cluster_healthy", FailureReason.unexpectedResponse),
              (.autopilotNoState, "cluster_healthy", .notReady),
              (.kvReadsOtherValue, "kv_store", .unexpectedResponse),
              (.catalogNeverShowsService, "service_registration", .timeout),
              (.ttlPassIgnored, "health_checks", .unexpectedResponse),
              (.uiDisabled, "ui_accessible", .httpStatus),
              // ACL filtering answers 200 [] (not 403) with X-Consul-Results-Filtered-By-Acls:
              // both the registration's catalog read and the probe check's health read.
              (.tokenLacksNodeRead, "service_registration,health_checks", .auth),
          ])
    func test_consulProbe_failsComponent_whenFeatureBroken(_ breakage: FakeConsul.Break, _ failing: String, _ reason: FailureReason) async throws {
        try await withFake { fake in
            fake.breakage.withLock { $0 = breakage }
            let before = objects(fake)
            let ledger = CleanupLedger()
            let environment = ProberEnvironment(instanceID: ProbeHarness.environment.instanceID, cleanupLedger: ledger)
            let outcome = try await ProbeHarness.probe("consul", try settings(fake), environment: environment)
            let broken = failing.split(separator: ",").map(String.init)
            for component in broken { #expect(outcome.reason(component) == reason, "\(component): \(outcome.summary)") }
            for other in Self.components where !broken.contains(other) {
                #expect(outcome.up(other), "\(other) should pass: \(outcome.summary)")
            }
            // A catalog wait that never succeeds stops early enough to deregister inline.
            if breakage == .catalogNeverShowsService { #expect(ledger.pending == 0, "the deregistration was left to the ledger") }
            #expect(await ledger.drain(within: .seconds(5)) == 0)
            #expect(objects(fake) == before, "objects left behind after a failing step")
            #expect(outcome.elapsed < .seconds(2))
        }
    }

    @Test("a leaderless cluster (500 No cluster leader on every leader read) is not_ready, not an HTTP error")
    func test_consulProbe_reportsNotReady_whenNoLeader() async throws {
        try await withFake { fake in
            fake.breakage.withLock { $0 = .noLeader }
            let before = objects(fake)
            let outcome = try await ProbeHarness.probe("consul", try settings(fake))
            for component in ["service_running", "cluster_healthy", "kv_store", "service_registration", "health_checks"] {
                #expect(outcome.reason(component) == .notReady, "\(component): \(outcome.summary)")
            }
            #expect(outcome.fact("infraprobe_consul_raft_peers") == 3, "peers stay configured while the leader is gone")
            #expect(outcome.up("ui_accessible"), "the UI is agent-local")
            #expect(objects(fake) == before)
        }
    }

    @Test("a client agent that has joined no server (500 No known Consul servers) is not_ready, the agent-local UI still up")
    func test_consulProbe_reportsNotReady_whenClientHasNoServers() async throws {
        try await withFake { fake in
            fake.breakage.withLock { $0 = .clientWithoutServers }
            let outcome = try await ProbeHarness.probe("consul", try settings(fake))
            for component in ["service_running", "cluster_healthy", "kv_store", "service_registration", "health_checks"] {
                #expect(outcome.reason(component) == .notReady, "\(component): \(outcome.summary)")
            }
            #expect(outcome.up("ui_accessible"))
        }
    }

    @Test("a server waiting for bootstrap_expect answers null peers: not_ready, not a malformed answer")
    func test_consulProbe_reportsNotReady_whenNotBootstrapped() async throws {
        try await withFake { fake in
            fake.breakage.withLock { $0 = .notBootstrapped }
            let outcome = try await ProbeHarness.probe("consul", try settings(fake))
            #expect(outcome.reason("cluster_healthy") == .notReady, "\(outcome.summary)")
            #expect(outcome.fact("infraprobe_consul_raft_peers") == 0)
            #expect(outcome.reason("service_running") == .notReady)
        }
    }

    @Test("RPC rate limiting (429 with a text body) is resource_exhausted everywhere, including autopilot")
    func test_consulProbe_reportsResourceExhausted_whenRateLimited() async throws {
        try await withFake { fake in
            fake.breakage.withLock { $0 = .rateLimited }
            let outcome = try await ProbeHarness.probe("consul", try settings(fake))
            for component in ["cluster_healthy", "kv_store", "service_registration", "health_checks"] {
                #expect(outcome.reason(component) == .resourceExhausted, "\(component): \(outcome.summary)")
            }
        }
    }

    @Test("Consul 1.21.5 validates KV keys: the probe's own keys pass, a key_prefix it would reject is a config error")
    func test_consulProbe_keysPassStrictValidation() async throws {
        try await withFake(version: "1.21.5") { fake in
            let outcome = try await ProbeHarness.probe("consul", try settings(fake, extra: ["key_prefix: team.a/infra-probe"]))
            #expect(outcome.up("kv_store"), "\(outcome.summary)")
            #expect(fake.invalidKey("caf\u{e9}/x") != nil, "the fake enforces the 1.21.5 pattern")
            #expect(fake.invalidKey("/leading") != nil)
        }
        for bad in ["\"caf\u{e9}\"", "\"has space\"", "/leading", "a/../b"] {
            #expect(throws: ConfigError.self, "\(bad)") {
                _ = try Probe.config("targets:\n  c:\n    prober: consul\n    url: http://127.0.0.1:8500\n    key_prefix: \(bad)\n")
            }
        }
        let id = ProberEnvironment.makeInstanceID()
        #expect(id.unicodeScalars.allSatisfy { $0.isASCII }, "instance id \(id)")
    }

    @Test("probe_ttl and catalog_max_lag are range-checked durations: a bad value is a config error naming the key")
    func test_consulConfig_rejectsBadProbeDurations() throws {
        for (key, value) in [("probe_ttl", "1s"), ("probe_ttl", "2d"), ("probe_ttl", "soon"), ("catalog_max_lag", "0s"), ("catalog_max_lag", "-5m")] {
            #expect {
                _ = try Probe.config("targets:\n  c:\n    prober: consul\n    url: http://127.0.0.1:8500\n    \(key): \(value)\n")
            } throws: { error in
                "\(error)".contains(key)
            }
        }
        let config = try Probe.config("targets:\n  c:\n    prober: consul\n    url: http://127.0.0.1:8500\n    probe_ttl: 30m\n    catalog_max_lag: 2m\n")
        let prober = try #require(config.targets[0].prober as? ConsulProber)
        #expect(prober.probeTTL == .seconds(1800) && prober.catalogMaxLag == .seconds(120))
    }

    @Test("KV writes are sent as application/octet-stream, as Consul's own client does")
    func test_consulProbe_kvPutContentType() async throws {
        try await withFake { fake in
            let outcome = try await ProbeHarness.probe("consul", try settings(fake), deadline: .seconds(2))
            #expect(outcome.up("kv_store"), "\(outcome.summary)")
            #expect(fake.kvContentTypes.current.allSatisfy { $0 == "application/octet-stream" } && !fake.kvContentTypes.current.isEmpty,
                    "\(fake.kvContentTypes.current)")
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
