import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// What probing a Consul cluster costs the cluster and the teams sharing it: catalog writes,
/// woken blocking queries, `critical` noise, the size of what is read, and what is left behind.
@Suite("Consul prober footprint: low churn, bounded reads, meta-proven cleanup")
struct ConsulFootprintTests {
    static let probeService = "infraprobe-test-host-1"
    static let probeCheck = probeService + "-ttl"

    func withFake(maxBlock: Duration = .seconds(1), checkUpdateInterval: Duration = .seconds(300),
                  _ body: (FakeConsul) async throws -> Void) async throws {
        let fake = FakeConsul(maxBlock: maxBlock, checkUpdateInterval: checkUpdateInterval)
        try fake.start()
        do { try await body(fake) } catch { await fake.stopOffPool(); throw error }
        await fake.stopOffPool()
    }

    /// One target, parsed once, so its prober lives across scrapes as in the exporter.
    func target(_ fake: FakeConsul, components: [String], extra: [String] = []) throws -> TargetSpec {
        let yaml = "targets:\n  t:\n    prober: consul\n    url: \(fake.url)\n    components: [\(components.joined(separator: ", "))]\n"
            + extra.map { "    \($0)\n" }.joined()
        return try ConfigLoader(environment: ProbeHarness.environment)
            .parse(yaml: yaml, file: "test.yml", baseDirectory: URL(fileURLWithPath: NSTemporaryDirectory())).targets[0]
    }

    func scrape(_ target: TargetSpec, deadline: Duration = .seconds(3)) async -> TargetProbeResult {
        await ComponentRunner.run(target: target, deadline: .after(deadline), environment: ProbeHarness.environment)
    }

    func summary(_ result: TargetProbeResult) -> String {
        result.components.map { "\($0.component)=\($0.failure.map { "\($0.reason.rawValue): \($0.message)" } ?? "up")" }.joined(separator: "\n")
    }

    func fact(_ result: TargetProbeResult, _ status: String) -> Double? {
        result.facts.first { $0.name == "infraprobe_consul_health_checks" && $0.labels == ["status": status] }?.value
    }

    /// A blocking query as consul-template or Prometheus consul_sd send it: a plain read for
    /// the index, then the read blocking on it. Returns the final index and how long it blocked.
    func blockingQuery(_ fake: FakeConsul, _ path: String, wait: String) async -> (index: Int?, blocked: Duration) {
        func get(_ query: String) async -> (Int?, Duration) {
            var request = HTTPClientRequest(url: fake.url + path + query, deadline: .after(.seconds(10)))
            request.responseHeaders = ["X-Consul-Index"]
            let start = ContinuousClock.now
            guard case .response(let response) = await HTTPClient.shared.send(request) else { return (nil, ContinuousClock.now - start) }
            return (response.headers["X-Consul-Index"].flatMap(Int.init), ContinuousClock.now - start)
        }
        guard let index = await get("").0 else { return (nil, .zero) }
        let (after, blocked) = await get("?index=\(index)&wait=\(wait)")
        return (after == index ? after : nil, blocked)
    }

    @Test("after the first registration, scrapes write nothing to the catalog and wake no one's blocking query; the probe check is never critical")
    func test_consulScrapes_leaveCatalogAndBlockingQueriesAlone() async throws {
        try await withFake(maxBlock: .seconds(5)) { fake in
            let target = try target(fake, components: ["service_running", "kv_store", "health_checks"])
            let first = await scrape(target)
            #expect(first.success, "\(summary(first))")
            let settled = fake.state.current
            #expect(settled.services[Self.probeService] != nil, "the first scrape registers the probe service")

            let watchers = Task {
                async let catalog = blockingQuery(fake, "/v1/catalog/services", wait: "2s")
                async let web = blockingQuery(fake, "/v1/health/service/web", wait: "2s")
                async let own = blockingQuery(fake, "/v1/health/service/infraprobe", wait: "2s")
                async let states = blockingQuery(fake, "/v1/health/state/critical", wait: "2s")
                return await [catalog, web, own, states]
            }
            let scrapes = 10
            for _ in 0..<scrapes {
                let result = await scrape(target)
                #expect(result.success, "\(summary(result))")
            }
            let woken = await watchers.value
            let after = fake.state.current
            for table in ["services", "checks", "service.web", "service.infraprobe"] {
                #expect(after.tableIndex[table] == settled.tableIndex[table], "\(scrapes) scrapes moved the \(table) index")
            }
            // kv_store's round trip is the one raft write per scrape by design (put + delete).
            #expect(after.index(of: "kvs") - settled.index(of: "kvs") == 2 * scrapes)
            for (query, name) in zip(woken, ["catalog/services", "health/service/web", "health/service/infraprobe", "health/state/critical"]) {
                #expect(query.blocked >= .milliseconds(1900), "\(name) was woken after \(query.blocked)")
                #expect(query.index != nil, "\(name) answered with a moved index")
            }
            #expect(after.everCritical.isEmpty, "checks that were critical: \(after.everCritical)")
            // The agent holds the last probe's output; the catalog copy waits for the deferred sync.
            let agentOutput = after.agentOutput[Self.probeCheck] ?? ""
            #expect(agentOutput.hasPrefix("infraprobe "), "\(agentOutput)")
        }
    }

    @Test("the agent's deferred sync carries the probe output to the catalog: one catalog write per sync, not per scrape")
    func test_consulProbeOutput_reachesCatalog_throughDeferredSync() async throws {
        try await withFake(checkUpdateInterval: .milliseconds(600)) { fake in
            let target = try target(fake, components: ["health_checks"])
            #expect(await scrape(target).success)
            let registered = fake.state.current.writes["service.infraprobe"] ?? 0
            for _ in 0..<4 {
                let result = await scrape(target)
                #expect(result.success, "\(summary(result))")
            }
            let agentOutput = fake.state.current.agentOutput[Self.probeCheck]
            try await Task.sleep(for: .milliseconds(1000))   // past the sync (300–900 ms)
            fake.syncDeferredOutputs()
            let synced = fake.state.current
            #expect(synced.checks[Self.probeCheck]?["Output"]?.string == agentOutput)
            #expect(synced.agentOutput[Self.probeCheck] == nil)
            #expect((synced.writes["service.infraprobe"] ?? 0) - registered == 1, "4 scrapes and one sync: one catalog write")
            #expect(await scrape(target).success)
        }
    }

    @Test("an agent whose anti-entropy never reaches the servers fails health_checks once the catalog trails by catalog_max_lag")
    func test_consulHealthChecks_fails_whenCatalogTrailsAgent() async throws {
        try await withFake(checkUpdateInterval: .milliseconds(200)) { fake in
            fake.breakage.withLock { $0 = .outputNeverSynced }
            let target = try target(fake, components: ["health_checks"], extra: ["catalog_max_lag: 1s"])
            let first = await scrape(target)
            #expect(first.success, "within the lag the registration's empty output is fine: \(summary(first))")
            try await Task.sleep(for: .milliseconds(1300))
            let late = await scrape(target)
            let failure = late.components.first?.failure
            #expect(failure?.reason == .unexpectedResponse)
            #expect(failure?.message.contains("behind the agent") == true, "\(summary(late))")
        }
    }

    @Test("an agent that lost the probe service (restart without a data dir) gets it registered again on the next scrape")
    func test_consulProbeService_reregistered_whenAgentLostIt() async throws {
        try await withFake { fake in
            let target = try target(fake, components: ["health_checks"])
            #expect(await scrape(target).success)
            fake.restartAgentLosingRegistrations()
            #expect(fake.state.current.services[Self.probeService] == nil)
            let again = await scrape(target)
            #expect(again.success, "\(summary(again))")
            let service = try #require(fake.state.current.services[Self.probeService])
            #expect(service["Meta"]?["infraprobe_instance"]?.string == "test-host-1")
            #expect(service["Meta"]?["infraprobe_created"]?.string.flatMap(Int.init) != nil)
            #expect(fake.state.current.everCritical.isEmpty)
        }
    }

    @Test("service_registration's short-lived service passes from the start and is gone afterwards")
    func test_consulServiceRegistration_neverCritical() async throws {
        try await withFake { fake in
            let target = try target(fake, components: ["service_registration"])
            let result = await scrape(target)
            #expect(result.success, "\(summary(result))")
            #expect(fake.state.current.everCritical.isEmpty)
            #expect(!fake.state.current.services.keys.contains { $0.hasSuffix("-registration") })
            #expect(fake.requestLog.current.contains { $0.contains("/v1/catalog/service/infraprobe?filter") })
        }
    }

    @Test("a 10,000-check cluster in an outage (6,000 critical checks with 4 KiB outputs, ~27 MB) is counted exactly, in bounded memory")
    func test_consulHealthChecks_countsLargeClusterBeyondBodyCap() async throws {
        try await withFake { fake in
            let output = String(repeating: "x", count: 4096)
            fake.state.withLock { state in
                for n in 0..<10_000 {
                    let status = n < 6_000 ? "critical" : n < 7_000 ? "warning" : "passing"
                    let id = "bulk-\(n)"
                    state.checks["service:\(id)"] = FakeConsul.check(id: "service:\(id)", name: "bulk \(n)", status: status, serviceID: id,
                                                                    serviceName: "bulk", tags: [], type: "http",
                                                                    output: status == "passing" ? "ok" : output)
                }
            }
            let target = try target(fake, components: ["health_checks"])
            let result = await scrape(target, deadline: .seconds(30))
            #expect(result.success, "\(summary(result))")
            // service:web is the fake's one other critical check.
            #expect(fact(result, "critical") == 6_001)
            #expect(fact(result, "warning") == 1_000)
            #expect(6_000 * 4096 > 4 * 1024 * 1024, "the critical list alone is past the 4 MiB body cap")
            #expect(!fake.requestLog.current.contains { $0.contains("/v1/health/state/any") || $0.contains("/v1/health/state/passing") })
        }
    }

    @Test("the sweeper removes only objects whose meta and age prove them abandoned, at most `limit` a run")
    func test_consulSweep_removesOnlyAbandonedMetaProvenObjects() async throws {
        try await withFake { fake in
            let now = Int(Date().timeIntervalSince1970)
            let old = now - 3_600, young = now - 10
            fake.state.withLock { state in
                state.kv["infraprobe/gone-host-7/n1/kv"] = FakeConsul.KVEntry(value: Array("v".utf8), flags: UInt64(old), modifyIndex: 5)
                state.kv["infraprobe/test-host-1/n2/kv"] = FakeConsul.KVEntry(value: Array("v".utf8), flags: UInt64(young), modifyIndex: 6)
                state.kv["infraprobe/gone-host-7/n3/kv"] = FakeConsul.KVEntry(value: Array("v".utf8), flags: 0, modifyIndex: 7)
                state.kv["infraprobe/team-notes"] = FakeConsul.KVEntry(value: Array("keep".utf8), flags: UInt64(old), modifyIndex: 8)
                state.kv["other/gone-host-7/n1/kv"] = FakeConsul.KVEntry(value: Array("v".utf8), flags: UInt64(old), modifyIndex: 9)
            }
            fake.seedInfraprobeService(id: "infraprobe-gone-host-7-n4-registration", instance: "gone-host-7", role: "registration", created: old)
            fake.seedInfraprobeService(id: "infraprobe-live-host-2-n5-registration", instance: "live-host-2", role: "registration", created: young)
            fake.seedInfraprobeService(id: "infraprobe-gone-host-7", instance: "gone-host-7", role: "probe", created: old, status: "critical")
            fake.seedInfraprobeService(id: "infraprobe-live-host-2", instance: "live-host-2", role: "probe", created: old, status: "passing")
            fake.seedInfraprobeService(id: Self.probeService, instance: "test-host-1", role: "probe", created: old, status: "critical")
            fake.seedService("infraprobe", id: "infraprobe-lookalike", port: 9, status: "critical")
            fake.state.withLock { state in
                var meta = state.services["infraprobe-gone-host-7-n4-registration"]!.object!
                meta["ID"] = "infraprobe-undated"
                meta["Meta"] = ["infraprobe_instance": "gone-host-7", "infraprobe_role": "registration"]
                state.services["infraprobe-undated"] = .object(meta)
            }
            let prober = try #require(try target(fake, components: ["kv_store"]).prober as? ConsulProber)
            let sweep = { (limit: Int) in
                LeftoverSweep(minimumAge: .seconds(600), limit: limit, deadline: .after(.seconds(5)), target: "t")
            }
            let abandoned: Set<String> = ["infraprobe/gone-host-7/n1/kv", "infraprobe-gone-host-7-n4-registration", "infraprobe-gone-host-7"]
            let first = await prober.sweepLeftovers(sweep(1))
            #expect(first == SweepReport(found: 3, removed: 1), "\(first)")
            let second = await prober.sweepLeftovers(sweep(100))
            #expect(second == SweepReport(found: 2, removed: 2), "\(second)")
            let state = fake.state.current
            let left = Set(state.kv.keys).union(state.services.keys)
            #expect(left.isDisjoint(with: abandoned), "\(left)")
            for kept in ["infraprobe/test-host-1/n2/kv", "infraprobe/gone-host-7/n3/kv", "infraprobe/team-notes", "other/gone-host-7/n1/kv",
                         "infraprobe-live-host-2-n5-registration", "infraprobe-live-host-2", Self.probeService, "infraprobe-lookalike", "infraprobe-undated"] {
                #expect(left.contains(kept), "\(kept) must stay")
            }
            #expect(await prober.sweepLeftovers(sweep(100)) == SweepReport(found: 0, removed: 0))
            #expect(fake.requestLog.current.contains { $0.contains("GET /v1/agent/services?filter") })
        }
    }
}
