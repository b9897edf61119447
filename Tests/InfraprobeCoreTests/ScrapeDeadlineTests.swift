import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// Every scrape is answered by its own deadline, whether it started the probe or joined it, and
/// within a target's `min_interval` scrapes share one probe.
@Suite("Scrape deadlines", .serialized)
struct ScrapeDeadlineTests {
    /// A Consul fake that takes 250 ms per answer: `service_running` (two requests) needs ~0.5 s,
    /// `kv_store` (four) ~1 s.
    static func slowConsul() throws -> (FakeConsul, InfraprobeConfig) {
        let fake = FakeConsul()
        fake.latency.withLock { $0 = .milliseconds(250) }
        try fake.start()
        let config = try Probe.config("""
        targets:
          consul:
            prober: consul
            url: \(fake.url)
            timeout: 5s
            components: [service_running, kv_store]
        """)
        return (fake, config)
    }

    static func timed(_ body: () async throws -> ProbeRecord) async rethrows -> (ProbeRecord, Duration) {
        let start = ContinuousClock.now
        let record = try await body()
        return (record, ContinuousClock.now - start)
    }

    @Test func test_joinerWithAShortDeadline_isAnsweredOnTime_whileTheFirstCallersProbeContinues() async throws {
        let (fake, config) = try Self.slowConsul()
        defer { fake.stop() }
        let target = try #require(config.target(named: "consul"))
        let service = Probe.service(config)
        async let long = Self.timed { try await service.probe(target, timeout: .seconds(4)) }
        for _ in 0..<200 where fake.requestLog.current.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        let (short, shortTook) = try await Self.timed { try await service.probe(target, timeout: .milliseconds(200)) }
        #expect(shortTook < .milliseconds(450), "the joiner waited \(shortTook)")
        #expect(short.result.reason("service_running") == .timeout)
        #expect(short.result.reason("kv_store") == .timeout)
        #expect(short.result.component("kv_store")?.failure?.message.contains("this scrape's deadline") == true)
        let (first, _) = try await long
        #expect(first.result.success, "\(first.result.failureSummary)")
        // One probe served both scrapes.
        #expect(service.history.count == 1)
        #expect(short.id == first.id)
    }

    @Test func test_scrapeWhoseTimeoutIsTheTargets_getsTheFinishedRecord_evenWhenTheServiceHangs() async throws {
        // The scrape's deadline and the probe's are the same instant: the answer is the probe's own
        // record (in the history, with its timeouts), never a partial one a few microseconds early.
        let hole = try BlackHoleListener()
        let config = try Probe.config("targets:\n  stuck:\n    prober: redis\n    address: \(hole.address)\n    timeout: 300ms\n")
        let target = try #require(config.target(named: "stuck"))
        let service = Probe.service(config)
        for _ in 0..<5 {
            let record = try await service.probe(target, timeout: target.timeout)
            #expect(record.result.reason("service_running") == .timeout, "\(record.result.failureSummary)")
            #expect(service.history.contains { $0.id == record.id }, "answered before the probe's record was kept")
        }
    }

    @Test func test_joinerWithALongerDeadline_getsTheRealOutcome_notTheFirstCallersTimeout() async throws {
        let (fake, config) = try Self.slowConsul()
        defer { fake.stop() }
        let target = try #require(config.target(named: "consul"))
        let service = Probe.service(config)
        async let short = Self.timed { try await service.probe(target, timeout: .milliseconds(300)) }
        for _ in 0..<200 where fake.requestLog.current.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        let (long, _) = try await Self.timed { try await service.probe(target, timeout: .seconds(4)) }
        let (first, firstTook) = try await short
        #expect(firstTook < .milliseconds(550), "the first caller waited \(firstTook)")
        #expect(first.result.reason("kv_store") == .timeout)
        #expect(long.result.success, "\(long.result.failureSummary)")
        #expect(service.history.count == 1)
        #expect(service.history.first?.result.success == true)
    }

    @Test func test_minInterval_servesOneProbeToEveryScrapeWithinIt_andSaysItWasReused() async throws {
        let redis = try await RedisServer.make()
        let config = try Probe.redisConfig(redis.address, extra: "min_interval: 1s")
        let target = try #require(config.target(named: "cache"))
        let service = Probe.service(config)
        let first = try await service.probe(target, timeout: .seconds(3))
        let second = try await service.probe(target, timeout: .seconds(3))
        #expect(first.result.success, "\(first.result.failureSummary)")
        #expect(!first.result.reused)
        #expect(second.result.reused)
        #expect(second.id == first.id && second.result.startedAt == first.result.startedAt)
        #expect(service.history.count == 1)
        let text = ExpositionWriter.write(ProbeMetrics.families(for: [second.result], includeOverall: false), format: .text004)
        #expect(text.contains("infraprobe_probe_reused{target=\"cache\"} 1"), "\(text)")
        let stamp = try #require(ComponentCadenceTests.sample(text, "infraprobe_probe_timestamp_seconds{target=\"cache\"}"), "\(text)")
        #expect(abs(stamp - first.result.startedAt) < 0.001)
        let firstText = ExpositionWriter.write(ProbeMetrics.families(for: [first.result], includeOverall: false), format: .text004)
        #expect(firstText.contains("infraprobe_probe_reused{target=\"cache\"} 0"))
        try await Task.sleep(for: .milliseconds(1100))
        let third = try await service.probe(target, timeout: .seconds(3))
        #expect(!third.result.reused && third.id != first.id)
        #expect(service.history.count == 2)
    }

    @Test func test_overHTTP_aShortScrapeTimeoutHeaderJoiningALongScrape_isAnsweredWithinItsOwnTimeout() async throws {
        let (fake, _) = try Self.slowConsul()
        defer { fake.stop() }
        let exporter = try TestExporter(config: "targets:\n  consul:\n    prober: consul\n    url: \(fake.url)\n    timeout: 5s\n    components: [service_running, kv_store]\n")
        async let long = exporter.get("/probe?target=consul", headers: ["X-Prometheus-Scrape-Timeout-Seconds": "10"])
        for _ in 0..<400 where fake.requestLog.current.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        let start = ContinuousClock.now
        // 0.8 s − the 0.5 s offset: a 0.3 s deadline.
        let short = try await exporter.get("/probe?target=consul", headers: ["X-Prometheus-Scrape-Timeout-Seconds": "0.8"])
        let took = ContinuousClock.now - start
        #expect(took < .milliseconds(800), "took \(took)")
        #expect(short.text.contains("component=\"kv_store\",reason=\"timeout\""), "\(short.text)")
        #expect(short.text.contains("infraprobe_probe_reused{target=\"consul\"} 0"))
        let first = try await long
        #expect(first.text.contains("probe_success{target=\"consul\"} 1"), "\(first.text)")
        #expect(first.text.contains("infraprobe_component_last_run_timestamp_seconds{target=\"consul\",prober=\"consul\",component=\"kv_store\"} "))
    }

    @Test func test_withoutMinInterval_consecutiveScrapesProbeEachTime() async throws {
        let redis = try await RedisServer.make()
        let config = try Probe.config("targets:\n  cache:\n    prober: redis\n    address: \(redis.address)\n")
        let target = try #require(config.target(named: "cache"))
        let service = Probe.service(config)
        let first = try await service.probe(target, timeout: .seconds(3))
        let second = try await service.probe(target, timeout: .seconds(3))
        #expect(!second.result.reused && second.id != first.id)
    }
}

@Suite("Per-address cache of module probes")
struct ModuleProbeCacheTests {
    @Test func test_moduleAddresses_keepTheirLastProbe_boundedToTheDiscoveredLimit_oldestDroppedFirst() async throws {
        let config = try Probe.config("""
        modules:
          cache:
            prober: redis
            allowed_targets: ["*"]
            min_interval: 1h
            timeout: 1s
        """)
        let module = try #require(config.module(named: "cache"))
        let service = Probe.service(config)
        func target(_ i: Int) throws -> TargetSpec {
            // Loopback addresses on port 1: refused at once, a real probe each.
            let address = try module.parseTarget("127.0.\(i / 250).\(i % 250 + 1):1").get()
            return try module.target(for: address)
        }
        let count = ProbeService.discoveredLimit + 1
        for i in 0..<count {
            let record = try await service.probe(try target(i), module: "cache", timeout: .seconds(1))
            #expect(!record.result.reused)
            #expect(record.result.reason("service_running") == .connectionRefused)
        }
        #expect(service.cachedTargetCount == ProbeService.discoveredLimit)
        // The newest address is served again within min_interval; the oldest was dropped and probes afresh.
        #expect(try await service.probe(try target(count - 1), module: "cache", timeout: .seconds(1)).result.reused)
        #expect(try await !service.probe(try target(0), module: "cache", timeout: .seconds(1)).result.reused)
    }
}
