import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// Per-component cadence: `components: {NAME: {every: DURATION}}` runs a component less often
/// than the target is scraped and serves its last result, with its age, in between.
@Suite("Component cadence", .serialized)
struct ComponentCadenceTests {
    static func setCalls(_ redis: RedisServer) throws -> Int {
        let info = try redis.command(["INFO", "commandstats"]).string ?? ""
        guard let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_set:") }),
              let calls = line.split(separator: ",").first?.split(separator: "=").last.flatMap({ Int($0) }) else { return 0 }
        return calls
    }

    static func exposition(_ record: ProbeRecord) -> String {
        ExpositionWriter.write(ProbeMetrics.families(for: [record.result], includeOverall: false), format: .text004)
    }

    static func sample(_ text: String, _ prefix: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
    }

    @Test func test_componentWithEvery_isServedFromCache_withItsOriginalRunTime_andDuration() async throws {
        let redis = try await RedisServer.make()
        let config = try Probe.redisConfig(redis.address, extra: "components: {service_running: , basic_operations: {every: 10m}}")
        let target = try #require(config.target(named: "cache"))
        #expect(target.every == ["basic_operations": .seconds(600)])
        let service = Probe.service(config)

        let first = try await service.probe(target, timeout: .seconds(3))
        #expect(first.result.success, "\(first.result.failureSummary)")
        let ran = try #require(first.result.component("basic_operations"))
        #expect(!ran.servedFromCache)
        let setsAfterFirst = try Self.setCalls(redis)
        #expect(setsAfterFirst >= 1)

        try await Task.sleep(for: .milliseconds(50))
        let second = try await service.probe(target, timeout: .seconds(3))
        let served = try #require(second.result.component("basic_operations"))
        #expect(served.servedFromCache)
        #expect(served.lastRunAt == ran.lastRunAt)
        #expect(served.duration == ran.duration)
        #expect(served.lastRunAt < second.result.startedAt)
        // The service saw no second SET: the component really did not run.
        #expect(try Self.setCalls(redis) == setsAfterFirst)
        // service_running has no cadence and ran again.
        let gate = try #require(second.result.component("service_running"))
        #expect(!gate.servedFromCache && gate.lastRunAt > ran.lastRunAt)

        let text = Self.exposition(second)
        let prefix = "infraprobe_component_last_run_timestamp_seconds{target=\"cache\",prober=\"redis\",component="
        let servedAt = try #require(Self.sample(text, prefix + "\"basic_operations\"}"), "\(text)")
        let gateAt = try #require(Self.sample(text, prefix + "\"service_running\"}"), "\(text)")
        #expect(abs(servedAt - ran.lastRunAt) < 0.001)
        #expect(gateAt >= second.result.startedAt - 0.001)
        #expect(text.contains("infraprobe_component_up{target=\"cache\",prober=\"redis\",component=\"basic_operations\"} 1"))
        #expect(DebugReport.render(second).contains("== basic_operations: PASS in"))
        #expect(DebugReport.render(second).contains("(last result, ran 0s before this probe)"))
    }

    @Test func test_runIntervalGauge_exportsTheConfiguredEvery_andZeroForEveryScrape() async throws {
        let redis = try await RedisServer.make()
        let config = try Probe.redisConfig(redis.address, extra: "components: {service_running: , basic_operations: {every: 10m}}")
        let target = try #require(config.target(named: "cache"))
        let service = Probe.service(config)
        let prefix = "infraprobe_component_run_interval_seconds{target=\"cache\",prober=\"redis\",component="
        // Both the probe that ran the component and the one that served it from the cache say so.
        for _ in 0..<2 {
            let text = Self.exposition(try await service.probe(target, timeout: .seconds(3)))
            #expect(Self.sample(text, prefix + "\"basic_operations\"}") == 600, "\(text)")
            #expect(Self.sample(text, prefix + "\"service_running\"}") == 0, "\(text)")
            #expect(text.contains("# TYPE infraprobe_component_run_interval_seconds gauge"))
        }
    }

    @Test func test_runIntervalGauge_exportsTheProbersDefaults() async throws {
        let fake = FakeConsul()
        try fake.start()
        defer { fake.stop() }
        let config = try Probe.config("targets:\n  consul:\n    prober: consul\n    url: \(fake.url)\n")
        let target = try #require(config.target(named: "consul"))
        let text = Self.exposition(try await Probe.service(config).probe(target, timeout: .seconds(5)))
        let prefix = "infraprobe_component_run_interval_seconds{target=\"consul\",prober=\"consul\",component="
        #expect(Self.sample(text, prefix + "\"service_registration\"}") == 300, "\(text)")
        #expect(Self.sample(text, prefix + "\"kv_store\"}") == 0, "\(text)")
        #expect(Self.sample(text, prefix + "\"health_checks\"}") == 0, "\(text)")
    }

    @Test func test_runInterval_ofAGroup_isItsMostFrequentMembers() {
        let noop: @Sendable (ComponentContext) async throws -> Void = { _ in }
        let checks = Dictionary(uniqueKeysWithValues: [
            ComponentCheck("service_running", run: noop), ComponentCheck("trace_ingest", run: noop),
            ComponentCheck("trace_query", dependsOn: ["trace_ingest"], run: noop), ComponentCheck("metrics_endpoint", run: noop),
        ].map { ($0.name, $0) })
        let order = ["service_running", "trace_ingest", "trace_query", "metrics_endpoint"]
        // trace_query runs every 2m, so trace_ingest does too, although its own every is 10m.
        let intervals = ComponentCadence.runIntervals(order: order, checks: checks,
                                                      every: ["trace_ingest": .seconds(600), "trace_query": .seconds(120),
                                                              "metrics_endpoint": .seconds(300)])
        #expect(intervals == ["service_running": .zero, "trace_ingest": .seconds(120), "trace_query": .seconds(120),
                              "metrics_endpoint": .seconds(300)])
    }

    @Test func test_cachedComponent_reportsDependencyFailed_whenTheGateFindsTheServiceDown() async throws {
        let redis = try await RedisServer.make()
        let config = try Probe.redisConfig(redis.address, extra: "components: {service_running: {}, basic_operations: {every: 10m}}")
        let target = try #require(config.target(named: "cache"))
        let service = Probe.service(config)
        #expect(try await service.probe(target, timeout: .seconds(3)).result.success)
        redis.stop()
        let down = try await service.probe(target, timeout: .seconds(3))
        #expect(down.result.reason("service_running") == .connectionRefused)
        // An outage is never hidden behind a cached pass.
        #expect(down.result.reason("basic_operations") == .dependencyFailed)
        #expect(down.result.component("basic_operations")?.servedFromCache == false)
    }

    @Test func test_reloadThatChangesTheTarget_dropsItsCache_anUnchangedOneKeepsIt() async throws {
        let redis = try await RedisServer.make()
        func yaml(db: Int) -> String {
            """
            targets:
              cache:
                prober: redis
                address: \(redis.address)
                db: \(db)
                components: {basic_operations: {every: 10m}}
              other:
                prober: redis
                address: \(redis.address)
                components: {basic_operations: {every: 10m}}
            """
        }
        let config = try Probe.config(yaml(db: 0))
        let service = Probe.service(config)
        for name in ["cache", "other"] { _ = try await service.probe(try #require(config.target(named: name)), timeout: .seconds(3)) }
        let reloaded = try Probe.config(yaml(db: 1))
        service.replaceConfig(reloaded)
        let changed = try await service.probe(try #require(reloaded.target(named: "cache")), timeout: .seconds(3))
        let unchanged = try await service.probe(try #require(reloaded.target(named: "other")), timeout: .seconds(3))
        #expect(changed.result.component("basic_operations")?.servedFromCache == false)
        #expect(changed.result.success, "\(changed.result.failureSummary)")
        #expect(unchanged.result.component("basic_operations")?.servedFromCache == true)
    }

    @Test func test_consulDefaults_registerAServiceOnlyEveryFiveMinutes_againstTheFake() async throws {
        let fake = FakeConsul()
        try fake.start()
        defer { fake.stop() }
        let config = try Probe.config("targets:\n  consul:\n    prober: consul\n    url: \(fake.url)\n")
        let target = try #require(config.target(named: "consul"))
        #expect(target.every["service_registration"] == .seconds(300))
        #expect(target.every["health_checks"] == nil)  // drives the long-lived probe service: no registration per scrape
        #expect(target.every["kv_store"] == nil)
        let service = Probe.service(config)
        let first = try await service.probe(target, timeout: .seconds(5))
        #expect(first.result.success, "\(first.result.failureSummary)")
        let registrations = { fake.requestLog.current.filter { $0.contains("/v1/agent/service/register") }.count }
        let afterFirst = registrations()
        #expect(afterFirst == 2)  // service_registration, and health_checks registering the long-lived probe service once
        let kvWrites = fake.kvContentTypes.current.count
        let second = try await service.probe(target, timeout: .seconds(5))
        #expect(second.result.success, "\(second.result.failureSummary)")
        #expect(registrations() == afterFirst)
        #expect(fake.kvContentTypes.current.count > kvWrites)  // kv_store runs on every scrape
        #expect(second.result.component("service_registration")?.servedFromCache == true)
        #expect(second.result.component("kv_store")?.servedFromCache == false)
        #expect(second.result.component("health_checks")?.servedFromCache == false)
    }

    @Test func test_arangoDBDefaults_createADatabaseEveryFiveMinutes_collectionsEveryMinute() throws {
        let target = try Probe.target("targets:\n  db:\n    prober: arangodb\n    url: http://127.0.0.1:8529\n")
        #expect(target.every["database_operations"] == .seconds(300))
        #expect(target.every["graph_operations"] == .seconds(300))
        #expect(target.every["collection_operations"] == .seconds(60))
        #expect(target.every["service_running"] == nil && target.every["performance_metrics"] == nil)
        // `every: 0s` runs a component on every scrape, overriding the default.
        let everyScrape = try Probe.target("""
        targets:
          db:
            prober: arangodb
            url: http://127.0.0.1:8529
            components: {service_running: , database_operations: {every: 0s}}
        """)
        #expect(everyScrape.every.isEmpty)
        #expect(everyScrape.components == ["service_running", "database_operations"])
    }

    @Test func test_dependentsAndTheirDependencies_runTogether_unlessAllAreFresh() throws {
        let noop: @Sendable (ComponentContext) async throws -> Void = { _ in }
        let checks = Dictionary(uniqueKeysWithValues: [
            ComponentCheck("service_running", run: noop), ComponentCheck("trace_ingest", run: noop),
            ComponentCheck("trace_query", dependsOn: ["trace_ingest"], run: noop),
            ComponentCheck("trace_search", dependsOn: ["trace_ingest"], run: noop), ComponentCheck("metrics_endpoint", run: noop),
        ].map { ($0.name, $0) })
        let order = ["service_running", "trace_ingest", "trace_query", "trace_search", "metrics_endpoint"]
        #expect(ComponentCadence.groups(order: order, checks: checks)
                == [["service_running"], ["trace_ingest", "trace_query", "trace_search"], ["metrics_endpoint"]])
        let now = 1_000_000.0
        func cached(_ name: String, ago: Double) -> ComponentResult {
            var result = ComponentResult(component: name, duration: .milliseconds(5), failure: nil)
            result.lastRunAt = now - ago
            return result
        }
        let cache = Dictionary(uniqueKeysWithValues: order.map { ($0, cached($0, ago: 60)) })
        // trace_ingest every 10m but trace_query every scrape: the query needs this probe's trace id,
        // so the ingest runs too.
        let partly = ComponentCadence.served(order: order, checks: checks,
                                             every: ["trace_ingest": .seconds(600), "metrics_endpoint": .seconds(600)], cache: cache, now: now)
        #expect(Set(partly.keys) == ["metrics_endpoint"])
        let all = ComponentCadence.served(order: order, checks: checks,
                                          every: ["trace_ingest": .seconds(600), "trace_query": .seconds(600), "trace_search": .seconds(600)],
                                          cache: cache, now: now)
        #expect(Set(all.keys) == ["trace_ingest", "trace_query", "trace_search"])
        // Due at 95 % of every: a 60 s cadence scraped at 58 s runs again.
        #expect(ComponentCadence.served(order: order, checks: checks, every: ["metrics_endpoint": .seconds(62)], cache: cache, now: now).isEmpty)
        #expect(ComponentCadence.served(order: order, checks: checks, every: ["metrics_endpoint": .seconds(64)], cache: cache, now: now).count == 1)
    }

    @Test func test_notAttemptedResults_areNeverCached() {
        var skipped = ComponentResult(component: "kv_store", duration: .zero, failure: ProbeFailure(.dependencyFailed, "not attempted"))
        #expect(!ComponentCadence.isCacheable(skipped))
        skipped = ComponentResult(component: "kv_store", duration: .zero, failure: ProbeFailure(.auth, "403"))
        #expect(ComponentCadence.isCacheable(skipped))
    }
}

@Suite("Component cadence config")
struct ComponentCadenceConfigTests {
    func expectError(_ components: String, line: Int?, key: String, containing text: String,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        let yaml = "targets:\n  cache:\n    prober: redis\n    address: h:1\n    components:\n" + components
        expectConfigError(yaml, line: line, key: key, containing: text, sourceLocation: sourceLocation)
    }

    @Test func test_mapForm_takesNullEmptyOrEvery_andKeepsTheProbersOrder() throws {
        let target = try Probe.target("""
        targets:
          cache:
            prober: redis
            address: h:1
            components:
              memory_usage: {every: 1m30s}
              service_running:
              basic_operations: {}
        """)
        #expect(target.components == ["service_running", "basic_operations", "memory_usage"])
        #expect(target.every == ["memory_usage": .seconds(90)])
        #expect(target.redactedSettings.contains(RedactedSetting(key: "components",
                                                                 value: "{memory_usage: {every: 90s}, service_running: {}, basic_operations: {}}")))
        // The list form still works.
        let list = try Probe.target("targets:\n  c:\n    prober: redis\n    address: h:1\n    components: [memory_usage, service_running]\n")
        #expect(list.components == ["service_running", "memory_usage"] && list.every.isEmpty)
    }

    @Test func test_badCadence_namesFileLineAndKey() {
        expectError("      pings: {every: 1m}\n", line: 6, key: "targets.cache.components", containing: "unknown component \"pings\"")
        expectError("      service_running: {every: soon}\n", line: 6, key: "targets.cache.components.service_running.every",
                    containing: "expected a duration such as 5m")
        expectError("      service_running: {every: -1m}\n", line: 6, key: "targets.cache.components.service_running.every",
                    containing: "must be between 0s (every scrape) and 86400s")
        expectError("      service_running: {every: 25h}\n", line: 6, key: "targets.cache.components.service_running.every",
                    containing: "must be between 0s")
        expectError("      service_running: {every: 100000000000000000000000h}\n", line: 6, key: "targets.cache.components.service_running.every",
                    containing: "must be between 0s")
        expectError("      service_running: {evry: 1m}\n", line: 6, key: "targets.cache.components.service_running.evry",
                    containing: "a component takes only every")
        expectError("      service_running: 1m\n", line: 6, key: "targets.cache.components.service_running",
                    containing: "expected {every: DURATION}")
        expectError("      {}\n", line: 6, key: "targets.cache.components", containing: "must name at least one component")
    }

    @Test func test_minInterval_isAPositiveDuration_offByDefault() throws {
        #expect(try Probe.target("targets:\n  c:\n    prober: redis\n    address: h:1\n").minInterval == nil)
        #expect(try Probe.target("targets:\n  c:\n    prober: redis\n    address: h:1\n    min_interval: 15s\n").minInterval == .seconds(15))
        #expect(throws: ConfigError.self) { try Probe.config("targets:\n  c:\n    prober: redis\n    address: h:1\n    min_interval: 0s\n") }
    }
}
