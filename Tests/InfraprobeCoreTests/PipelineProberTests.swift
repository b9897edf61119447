import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// The pipeline prober against linked fakes: the collector forwards to Tempo, Grafana proxies to
/// Tempo, Consul lists a real redis-server and a second live listener. Each test breaks one link.
@Suite("Pipeline prober: data flowing across linked fakes", .serialized)
struct PipelineProberTests {
    final class Chain: @unchecked Sendable {
        let redis: RedisServer
        let tempo: FakeTempo
        let otel = FakeOTelCollector()
        let grafana = FakeGrafana()
        let consul = FakeConsul(token: "consul-token")
        let deadPort = ClosedPort()

        init(tempo: FakeTempo = FakeTempo()) throws {
            self.tempo = tempo
            redis = try RedisServer()
            for fake in [tempo, otel, grafana, consul] as [FakeService] { try fake.start() }
            otel.forward(to: tempo, delay: .milliseconds(100))
            let tempo = self.tempo
            grafana.proxyTempo { tempo.url("http") }
            consul.seedService("redis-cache", id: "redis-cache-1", port: redis.port, tags: ["redis"])
            // Any live TCP listener stands in for a non-Redis service.
            consul.seedService("tempo-api", id: "tempo-api-1", port: Int(URLComponents(string: tempo.url("http"))!.port!))
        }

        func stop() {
            for fake in [tempo, otel, grafana, consul] as [FakeService] { fake.stop() }
            redis.stop()
        }

        func yaml(pipeline: [String] = []) -> String {
            let settings = pipeline.isEmpty ? [
                "collector: otel", "tempo: tempo", "grafana: grafana", "grafana_tempo_datasource: P214B5B846CF3925F",
                "consul: consul", "consul_services: [redis-cache, tempo-api]",
            ] : pipeline
            return """
            targets:
              flows:
                prober: pipeline
            \(settings.map { "    " + $0 }.joined(separator: "\n"))
              otel:
                prober: otel_collector
                health_url: \(otel.url("health"))
                otlp_url: \(otel.url("otlp"))
                metrics_url: \(otel.url("metrics"))/metrics
              tempo:
                prober: tempo
                url: \(tempo.url("http"))
                otlp_url: \(tempo.url("otlp"))
              grafana:
                prober: grafana
                url: \(grafana.url)
                token: \(grafana.token)
              consul:
                prober: consul
                url: \(consul.url)
                token: consul-token
              cache:
                prober: redis
                address: \(redis.address)

            """
        }

        func probe(deadline: Duration = .milliseconds(1500), pipeline: [String] = []) async throws -> (TargetProbeResult, Duration) {
            let config = try Probe.config(yaml(pipeline: pipeline))
            let target = try #require(config.target(named: "flows"))
            let start = ContinuousClock.now
            let result = await ComponentRunner.run(target: target, deadline: .after(deadline), environment: Probe.environment)
            return (result, ContinuousClock.now - start)
        }
    }

    func withChain(tempo: FakeTempo = FakeTempo(), _ body: (Chain) async throws -> Void) async throws {
        let chain = try Chain(tempo: tempo)
        defer { chain.stop() }
        try await body(chain)
    }

    func fact(_ result: TargetProbeResult, _ name: String, _ labels: [String: String]) -> Double? {
        result.facts.first { $0.name == name && $0.labels == labels }?.value
    }

    func expect(_ result: TargetProbeResult, _ component: String, _ reason: FailureReason, hop: String,
                sourceLocation: SourceLocation = #_sourceLocation) {
        let failure = result.component(component)?.failure
        #expect(failure?.reason == reason, "\(result.failureSummary)", sourceLocation: sourceLocation)
        #expect(failure?.hop == hop, "\(result.failureSummary)", sourceLocation: sourceLocation)
    }

    @Test("healthy chain: the span crosses collector → Tempo → Grafana, every Consul instance answers; hops are timed")
    func test_pipeline_allUp_whenEveryLinkWorks() async throws {
        try await withChain { chain in
            let (result, elapsed) = try await chain.probe()
            #expect(result.success, "\(result.failureSummary)")
            #expect(result.prober == "pipeline")
            #expect(result.components.map(\.component) == ["trace_via_collector", "trace_via_grafana", "service_discovery"])
            let visible = try #require(fact(result, "infraprobe_pipeline_hop_duration_seconds", ["component": "trace_via_collector", "hop": "visible"]))
            let ingest = try #require(fact(result, "infraprobe_pipeline_hop_duration_seconds", ["component": "trace_via_collector", "hop": "ingest"]))
            // The collector's 100 ms batching starts when it receives the span, before its answer reaches us:
            // the delay is split between the ingest and the visible hop, never lost.
            #expect(ingest + visible >= 0.1, "the collector's 100 ms batching delay is part of the ingest and visible hops")
            let endToEnd = try #require(fact(result, "infraprobe_pipeline_end_to_end_seconds", ["component": "trace_via_collector"]))
            #expect(endToEnd >= visible)
            #expect(fact(result, "infraprobe_pipeline_end_to_end_seconds", ["component": "trace_via_grafana"]) != nil)
            #expect(fact(result, "infraprobe_pipeline_service_instances", ["consul_service": "redis-cache", "state": "registered"]) == 1)
            #expect(fact(result, "infraprobe_pipeline_service_instances", ["consul_service": "redis-cache", "state": "reachable"]) == 1)
            #expect(fact(result, "infraprobe_pipeline_link_info", ["component": "trace_via_collector", "link_role": "collector", "link_target": "otel"]) == 1)
            #expect(fact(result, "infraprobe_pipeline_link_info", ["component": "trace_via_grafana", "link_role": "grafana", "link_target": "grafana"]) == 1)
            #expect(chain.grafana.requestLog.current.contains { $0.contains("/api/datasources/proxy/uid/P214B5B846CF3925F/api/v2/traces/") })
            #expect(elapsed < .milliseconds(1500), "answered before the deadline")
        }
    }

    @Test("collector accepts but drops spans: trace_via_collector fails at collector_export, Tempo and Consul still pass")
    func test_pipeline_collectorExport_whenCollectorDrops() async throws {
        try await withChain { chain in
            chain.otel.breakage.withLock { $0 = .dropsSpans }
            let (result, elapsed) = try await chain.probe()
            expect(result, "trace_via_collector", .timeout, hop: "collector_export")
            expect(result, "trace_via_grafana", .dependencyFailed, hop: "collector_export")
            #expect(result.component("service_discovery")?.ok == true, "\(result.failureSummary)")
            #expect(elapsed < .milliseconds(1500))
        }
    }

    @Test("collector down: trace_via_collector fails at collector_ingest with connection_refused")
    func test_pipeline_collectorIngest_whenCollectorDown() async throws {
        try await withChain { chain in
            chain.otel.takeDown()
            let (result, elapsed) = try await chain.probe()
            expect(result, "trace_via_collector", .connectionRefused, hop: "collector_ingest")
            #expect(result.component("service_discovery")?.ok == true, "\(result.failureSummary)")
            #expect(elapsed < .milliseconds(1500))
        }
    }

    @Test("collector hangs: trace_via_collector fails at collector_ingest with timeout, before the deadline")
    func test_pipeline_collectorIngest_whenCollectorHangs() async throws {
        try await withChain { chain in
            chain.otel.fault = .hang
            let (result, elapsed) = try await chain.probe()
            expect(result, "trace_via_collector", .timeout, hop: "collector_ingest")
            #expect(result.component("service_discovery")?.ok == true, "\(result.failureSummary)")
            #expect(elapsed < .milliseconds(1500))
        }
    }

    @Test("Tempo hangs: trace_via_collector fails at tempo_query before the deadline; the control push runs alongside and cannot stall it")
    func test_pipeline_tempoQuery_whenTempoHangs() async throws {
        try await withChain { chain in
            chain.otel.breakage.withLock { $0 = .dropsSpans }
            chain.tempo.fault = .hang   // handed-out URLs (API and OTLP) point at a black hole
            let config = try Probe.config(chain.yaml())
            let target = try #require(config.target(named: "flows"))
            let start = ContinuousClock.now
            let result = await ComponentRunner.run(target: target, deadline: .after(.milliseconds(1500)), environment: Probe.environment)
            let failure = result.component("trace_via_collector")?.failure
            #expect(failure?.hop == "tempo_query", "\(result.failureSummary)")
            #expect(ContinuousClock.now - start < .milliseconds(1500))
        }
    }

    @Test("Tempo accepts but loses the span: trace_via_collector fails at tempo_visible")
    func test_pipeline_tempoVisible_whenTempoLosesSpan() async throws {
        try await withChain { chain in
            chain.tempo.breakage.withLock { $0 = .spanNeverQueryable }
            let (result, elapsed) = try await chain.probe()
            expect(result, "trace_via_collector", .timeout, hop: "tempo_visible")
            #expect(result.component("service_discovery")?.ok == true, "\(result.failureSummary)")
            #expect(elapsed < .milliseconds(1500))
        }
    }

    @Test("Tempo's query API is under http_api_prefix, not at its url: tempo_query fails fast with http_status, not as a slow Tempo")
    func test_pipeline_tempoQuery_whenNoQueryAPIAtURL() async throws {
        try await withChain(tempo: FakeTempo(httpAPIPrefix: "/tempo")) { chain in
            let (result, elapsed) = try await chain.probe()
            expect(result, "trace_via_collector", .httpStatus, hop: "tempo_query")
            #expect(result.component("trace_via_collector")?.failure?.message.contains("http_api_prefix") == true, "\(result.failureSummary)")
            #expect(elapsed < .seconds(1))
        }
    }

    @Test("Grafana's datasource proxy fails: only trace_via_grafana fails, at grafana_proxy")
    func test_pipeline_grafanaProxy_whenProxyFails() async throws {
        try await withChain { chain in
            chain.grafana.breakage.withLock { $0 = .proxyFails }
            let (result, elapsed) = try await chain.probe()
            #expect(result.component("trace_via_collector")?.ok == true, "\(result.failureSummary)")
            expect(result, "trace_via_grafana", .httpStatus, hop: "grafana_proxy")
            #expect(result.component("service_discovery")?.ok == true, "\(result.failureSummary)")
            #expect(elapsed < .milliseconds(1500))
        }
    }

    @Test("Tempo down: the collector still accepts, the query fails at tempo_query with connection_refused")
    func test_pipeline_tempoQuery_whenTempoDown() async throws {
        try await withChain { chain in
            chain.tempo.takeDown()
            let (result, elapsed) = try await chain.probe()
            expect(result, "trace_via_collector", .connectionRefused, hop: "tempo_query")
            // Consul still lists Tempo's API as the passing service tempo-api: that link breaks too.
            expect(result, "service_discovery", .connectionRefused, hop: "instance_connect")
            #expect(elapsed < .milliseconds(1500))
        }
    }

    @Test("a wrong Tempo datasource uid: Grafana's own 404 is reported at grafana_proxy, not taken for a missing trace")
    func test_pipeline_grafanaProxy_whenDatasourceUnknown() async throws {
        try await withChain { chain in
            let (result, elapsed) = try await chain.probe(pipeline: [
                "collector: otel", "tempo: tempo", "grafana: grafana", "grafana_tempo_datasource: no-such-uid",
                "components: [trace_via_collector, trace_via_grafana]",
            ])
            #expect(result.component("trace_via_collector")?.ok == true, "\(result.failureSummary)")
            expect(result, "trace_via_grafana", .httpStatus, hop: "grafana_proxy")
            #expect(result.component("trace_via_grafana")?.failure?.message.contains("Unable to find datasource") == true, "\(result.failureSummary)")
            #expect(elapsed < .milliseconds(500), "answered at once, no polling")
        }
    }

    @Test("a password-protected Redis answering NOAUTH to PING counts as answering; redis_services forces PING")
    func test_pipeline_redisWithPassword_answers() async throws {
        try await withChain { chain in
            let locked = try await RedisServer.make(["--requirepass", "secret"])
            defer { locked.stop() }
            chain.consul.seedService("redis-locked", id: "redis-locked-1", port: locked.port)
            let (result, _) = try await chain.probe(pipeline: [
                "consul: consul", "consul_services: [redis-locked]", "redis_services: [redis-locked]", "components: [service_discovery]",
            ])
            #expect(result.success, "\(result.failureSummary)")
            #expect(result.component("service_discovery")?.steps.contains { $0.text.contains("(PING) → answers") } == true)
        }
    }

    @Test("Consul lists 60 instances that accept and never answer: at most 16 are checked at once, and the probe still answers by its deadline")
    func test_pipeline_instanceChecks_boundedConcurrency_whenManyInstancesHang() async throws {
        try await withChain { chain in
            let hung = try HostileRedisServer(.silent)
            defer { hung.stop() }
            for index in 0..<60 { chain.consul.seedService("redis-hung", id: "redis-hung-\(index)", port: hung.port, tags: ["redis"]) }
            let (result, elapsed) = try await chain.probe(deadline: .seconds(1), pipeline: [
                "consul: consul", "consul_services: [redis-hung]", "components: [service_discovery]",
            ])
            expect(result, "service_discovery", .timeout, hop: "instance_connect")
            #expect(fact(result, "infraprobe_pipeline_service_instances", ["consul_service": "redis-hung", "state": "registered"]) == 60)
            #expect(hung.peakConnections <= PipelineProber.maxConcurrentInstanceChecks, "\(hung.peakConnections) instance checks at once")
            #expect(hung.peakConnections > 0)
            #expect(elapsed < .milliseconds(1300), "answered after the deadline: \(elapsed)")
            #expect(await hung.waitUntilAllClosed(within: .milliseconds(300)), "\(hung.openConnections) instance connections left open")
        }
    }

    @Test("a Consul-registered instance is dead: service_discovery fails at instance_connect, registered 2 vs reachable 1")
    func test_pipeline_instanceConnect_whenInstanceDead() async throws {
        try await withChain { chain in
            chain.consul.seedService("redis-cache", id: "redis-cache-2", port: Int(chain.deadPort.port), tags: ["redis"])
            let (result, elapsed) = try await chain.probe()
            #expect(result.component("trace_via_collector")?.ok == true, "\(result.failureSummary)")
            #expect(result.component("trace_via_grafana")?.ok == true, "\(result.failureSummary)")
            expect(result, "service_discovery", .connectionRefused, hop: "instance_connect")
            #expect(fact(result, "infraprobe_pipeline_service_instances", ["consul_service": "redis-cache", "state": "registered"]) == 2)
            #expect(fact(result, "infraprobe_pipeline_service_instances", ["consul_service": "redis-cache", "state": "reachable"]) == 1)
            #expect(fact(result, "infraprobe_pipeline_service_instances", ["consul_service": "tempo-api", "state": "reachable"]) == 1)
            #expect(elapsed < .milliseconds(1500))
        }
    }

    @Test("redis-server stopped: Consul still lists it passing, service_discovery fails at instance_connect")
    func test_pipeline_instanceConnect_whenRedisStopped() async throws {
        try await withChain { chain in
            chain.redis.stop()
            let (result, _) = try await chain.probe()
            expect(result, "service_discovery", .connectionRefused, hop: "instance_connect")
        }
    }

    @Test("a service with no passing instance, or Consul down: service_discovery fails at consul_catalog")
    func test_pipeline_consulCatalog_whenNoPassingInstance() async throws {
        try await withChain { chain in
            chain.consul.seedService("tempo-api", id: "tempo-api-1", port: 1, status: "critical")
            let (result, _) = try await chain.probe()
            expect(result, "service_discovery", .unexpectedResponse, hop: "consul_catalog")
            #expect(fact(result, "infraprobe_pipeline_service_instances", ["consul_service": "tempo-api", "state": "registered"]) == 0)
            chain.consul.takeDown()
            let (down, _) = try await chain.probe()
            expect(down, "service_discovery", .connectionRefused, hop: "consul_catalog")
            #expect(down.component("trace_via_collector")?.ok == true, "\(down.failureSummary)")
        }
    }

    @Test("a leaderless Consul (500 No cluster leader on the health read): service_discovery is not_ready at consul_catalog")
    func test_pipeline_consulCatalog_whenNoLeader() async throws {
        try await withChain { chain in
            chain.consul.breakage.withLock { $0 = .noLeader }
            let (result, _) = try await chain.probe()
            expect(result, "service_discovery", .notReady, hop: "consul_catalog")
            #expect(result.component("trace_via_collector")?.ok == true, "\(result.failureSummary)")
        }
    }

    @Test("a Consul token without node:read (lists filtered by ACLs): service_discovery reports auth at consul_catalog")
    func test_pipeline_consulCatalog_whenACLsFilterNodes() async throws {
        try await withChain { chain in
            chain.consul.breakage.withLock { $0 = .tokenLacksNodeRead }
            let (result, _) = try await chain.probe()
            expect(result, "service_discovery", .auth, hop: "consul_catalog")
        }
    }

    @Test("pipeline series are exported with target/prober and the hop on the failure info")
    func test_pipeline_exposition() async throws {
        try await withChain { chain in
            chain.grafana.breakage.withLock { $0 = .proxyFails }
            let (result, _) = try await chain.probe()
            let text = ExpositionWriter.write(ProbeMetrics.families(for: [result], includeOverall: false), format: .text004)
            #expect(text.contains(#"infraprobe_component_failure_info{target="flows",prober="pipeline",component="trace_via_grafana",reason="http_status",hop="grafana_proxy"} 1"#), "\(text)")
            #expect(text.contains(#"infraprobe_pipeline_hop_duration_seconds{target="flows",prober="pipeline",component="trace_via_collector",hop="visible"}"#))
            #expect(text.contains(#"infraprobe_pipeline_link_info{target="flows",prober="pipeline",component="trace_via_collector",link_role="tempo",link_target="tempo"} 1"#))
        }
    }

    @Test("Consul listing instances with hostile port numbers: service_discovery is unexpected_response, never a trap",
          arguments: ["1e300", "-1", "65536", "1.5e18", String(repeating: "9", count: 400), "\"NaN\""])
    func test_pipeline_hostileConsulPort_isUnexpectedResponse(_ token: String) async throws {
        try await withChain { chain in
            chain.consul.hostile.withLock { $0 = .numbers(token) }
            let (result, elapsed) = try await chain.probe()
            expect(result, "service_discovery", .unexpectedResponse, hop: "consul_catalog")
            #expect(result.component("service_discovery")?.failure?.message.contains("no address or port") == true, "\(result.failureSummary)")
            #expect(elapsed < .seconds(2))
        }
    }
}

@Suite("Pipeline config: references to other targets")
struct PipelineConfigTests {
    func error(_ yaml: String) -> ConfigError? {
        do {
            _ = try Probe.config(yaml)
            return nil
        } catch let error as ConfigError {
            return error
        } catch {
            return nil
        }
    }

    static let others = """
      otel: {prober: otel_collector, health_url: "127.0.0.1:13133", otlp_url: "127.0.0.1:4318", metrics_url: "127.0.0.1:8888/metrics"}
      tempo: {prober: tempo, url: "127.0.0.1:3200"}
      consul: {prober: consul, url: "127.0.0.1:8500"}
    """

    @Test("references resolve whatever the order of targets; the pipeline reuses the referenced endpoints")
    func test_resolvesReferences() throws {
        let config = try Probe.config("""
        targets:
          flows:
            prober: pipeline
            collector: otel
            tempo: tempo
            consul: consul
            consul_services: [redis-cache]
            components: [trace_via_collector, service_discovery]
        \(Self.others)
        """)
        let pipeline = try #require(config.target(named: "flows")?.prober as? PipelineProber)
        #expect(pipeline.links?.tempo?.prober.api.baseURL == "http://127.0.0.1:3200")
        #expect(pipeline.links?.collector?.name == "otel")
        #expect(config.target(named: "flows")?.components == ["trace_via_collector", "service_discovery"])
    }

    @Test("a missing target, a wrong-kind target and a missing setting name file, line and key")
    func test_rejectsBadReferences() throws {
        let missing = try #require(error("""
        targets:
          flows:
            prober: pipeline
            collector: otel-typo
            tempo: tempo
            components: [trace_via_collector]
        \(Self.others)
        """))
        #expect(missing.file == "test.yml" && missing.line == 4 && missing.key == "targets.flows.collector", "\(missing)")
        #expect(missing.message.contains("no target named \"otel-typo\"") && missing.message.contains("otel"), "\(missing)")

        let wrongKind = try #require(error("""
        targets:
          flows:
            prober: pipeline
            collector: otel
            tempo: consul
            components: [trace_via_collector]
        \(Self.others)
        """))
        #expect(wrongKind.line == 5 && wrongKind.key == "targets.flows.tempo", "\(wrongKind)")
        #expect(wrongKind.message.contains("is a consul target, expected tempo"), "\(wrongKind)")

        let unset = try #require(error("""
        targets:
          flows:
            prober: pipeline
            collector: otel
            tempo: tempo
        \(Self.others)
        """))
        #expect(unset.key == "targets.flows.grafana" && unset.message.contains("trace_via_grafana"), "\(unset)")
    }
}
