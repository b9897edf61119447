import FoundationEssentials
import Glibc

/// Integration probes: each component follows one piece of data across services, through the
/// targets this one names (their URLs and credentials are reused), and records every hop.
///
/// * `trace_via_collector`: a span with a fresh trace id is pushed to the collector's OTLP/HTTP
///   receiver and polled for in Tempo until the deadline. A control span is pushed straight to
///   Tempo at the same time, so a span that never shows up is blamed on the right link: the
///   collector's export (control visible) or Tempo itself (control lost too).
/// * `trace_via_grafana`: the same trace fetched through Grafana's datasource proxy for the
///   configured Tempo datasource uid.
/// * `service_discovery`: every configured Consul service has passing instances, and each one
///   answers on its address (TCP connect, or PING for Redis services).
///
/// A failure carries `hop` (which link broke): collector_ingest, collector_export, tempo_query,
/// tempo_visible, grafana_proxy, consul_catalog, instance_connect.
public struct PipelineProber: ReferencesTargets {
    public static let componentNames = ["trace_via_collector", "trace_via_grafana", "service_discovery"]

    public static let descriptor = ProberDescriptor(
        kind: "pipeline",
        componentNames: componentNames,
        addressKey: "collector",
        followsOtherTargets: true,
        make: { section, environment in try PipelineProber(section: section, environment: environment) })

    static let traceKey = "pipeline.trace"
    /// Answer this long before the probe deadline (at most a tenth of the time left), so a missing
    /// span is reported with its hop rather than as the runner's generic timeout.
    static let reportMargin: Duration = .milliseconds(150)
    /// Instances Consul lists are checked this many at a time (each holds a blocking thread).
    static let maxConcurrentInstanceChecks = 16

    struct References: Sendable, Equatable {
        var collector: TargetReference?
        var tempo: TargetReference?
        var grafana: TargetReference?
        var consul: TargetReference?
    }

    /// The referenced targets' probers, once resolved.
    struct Links: Sendable {
        var collector: (name: String, prober: OTelCollectorProber)?
        var tempo: (name: String, prober: TempoProber)?
        var grafana: (name: String, prober: GrafanaProber)?
        var consul: (name: String, prober: ConsulProber)?
    }

    struct PushedTrace: Sendable {
        let id: String
        let pushStarted: ContinuousClock.Instant
    }

    let references: References
    let grafanaDatasource: String?
    let consulServices: [String]
    let redisServices: Set<String>
    let executor: BlockingExecutor
    var links: Links?

    public init(section: ConfigSection, environment: ProberEnvironment) throws {
        references = References(
            collector: try section.targetReference("collector", kinds: [OTelCollectorProber.descriptor.kind]),
            tempo: try section.targetReference("tempo", kinds: [TempoProber.descriptor.kind]),
            grafana: try section.targetReference("grafana", kinds: [GrafanaProber.descriptor.kind]),
            consul: try section.targetReference("consul", kinds: [ConsulProber.descriptor.kind]))
        grafanaDatasource = try section.string("grafana_tempo_datasource")
        consulServices = try section.stringList("consul_services") ?? []
        redisServices = Set(try section.stringList("redis_services") ?? [])
        executor = environment.executor

        // Settings each enabled component needs (trace_via_grafana also runs trace_via_collector).
        let enabled = Self.enabledComponents(section)
        var required: [(key: String, present: Bool, component: String)] = []
        if enabled.contains("trace_via_collector") || enabled.contains("trace_via_grafana") {
            let component = enabled.contains("trace_via_collector") ? "trace_via_collector" : "trace_via_grafana"
            required += [("collector", references.collector != nil, component), ("tempo", references.tempo != nil, component)]
        }
        if enabled.contains("trace_via_grafana") {
            required += [("grafana", references.grafana != nil, "trace_via_grafana"),
                         ("grafana_tempo_datasource", !(grafanaDatasource ?? "").isEmpty, "trace_via_grafana")]
        }
        if enabled.contains("service_discovery") {
            required += [("consul", references.consul != nil, "service_discovery"),
                         ("consul_services", !consulServices.isEmpty, "service_discovery")]
        }
        for requirement in required where !requirement.present {
            throw section.error(requirement.key, "is required for component \(requirement.component) (or leave the component out of components:)")
        }
        for service in redisServices where !consulServices.contains(service) {
            throw section.error("redis_services", "\"\(service)\" is not listed in consul_services")
        }
    }

    /// The components the target enables (the loader validates the list itself).
    static func enabledComponents(_ section: ConfigSection) -> [String] {
        switch section.valueNode("components") {
        case .sequence(let list)?: return list.compactMap(\.string)
        case .mapping(let mapping)?: return mapping.compactMap { $0.key.string }
        default: return componentNames
        }
    }

    public func resolvingReferences(_ targets: [String: TargetSpec]) throws -> any Prober {
        var links = Links()
        if let reference = references.collector, let prober = try reference.resolve(in: targets).prober as? OTelCollectorProber {
            links.collector = (reference.name, prober)
        }
        if let reference = references.tempo, let prober = try reference.resolve(in: targets).prober as? TempoProber {
            links.tempo = (reference.name, prober)
        }
        if let reference = references.grafana, let prober = try reference.resolve(in: targets).prober as? GrafanaProber {
            links.grafana = (reference.name, prober)
        }
        if let reference = references.consul, let prober = try reference.resolve(in: targets).prober as? ConsulProber {
            links.consul = (reference.name, prober)
        }
        var resolved = self
        resolved.links = links
        return resolved
    }

    public func checks() -> [ComponentCheck] {
        [
            ComponentCheck("trace_via_collector") { try await traceViaCollector($0) },
            ComponentCheck("trace_via_grafana", dependsOn: ["trace_via_collector"]) { try await traceViaGrafana($0) },
            ComponentCheck("service_discovery") { try await serviceDiscovery($0) },
        ]
    }

    // MARK: helpers

    func resolvedLinks() throws -> Links {
        guard let links else {
            throw ProbeFailure(.protocol, "pipeline targets are resolved from the config's named targets; this one was not")
        }
        return links
    }

    func link<T>(_ value: (name: String, prober: T)?, _ key: String) throws -> (name: String, prober: T) {
        guard let value else { throw ProbeFailure(.protocol, "no \(key) target configured") }
        return value
    }

    /// Names the targets a component crosses, so alerts can tell a broken link from a broken end.
    static func linkInfo(_ context: ComponentContext, _ links: [(role: String, target: String)]) {
        for link in links {
            context.fact("infraprobe_pipeline_link_info", help: "1 for each target a pipeline component crosses, by its role in the chain.",
                         labels: ["component": context.component, "link_role": link.role, "link_target": link.target], value: 1)
        }
    }

    static func hopDuration(_ context: ComponentContext, _ hop: String, _ duration: Duration) {
        context.fact("infraprobe_pipeline_hop_duration_seconds", help: "Time one hop of a pipeline component took.",
                     labels: ["component": context.component, "hop": hop], value: duration.seconds)
    }

    static func endToEnd(_ context: ComponentContext, _ duration: Duration) {
        context.fact("infraprobe_pipeline_end_to_end_seconds", help: "Time from handing data to the first service until it was seen at the last.",
                     labels: ["component": context.component], value: duration.seconds)
    }

    /// Re-labels a failure with the hop it happened on.
    static func at(_ hop: String, _ prefix: String, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as ProbeFailure {
            throw ProbeFailure(failure.reason, "\(prefix): \(failure.message)", hop: hop)
        }
    }

    static func reportDeadline(_ context: ComponentContext) -> Deadline {
        Deadline(context.deadline.instant - min(reportMargin, context.deadline.remaining / 10))
    }

    /// Stop polling early enough to make one last request before `report`.
    static func pollDeadline(_ report: Deadline) -> Deadline {
        Deadline(report.instant - min(.milliseconds(100), report.remaining / 10))
    }

    /// Asks Tempo (directly or through Grafana's proxy) whether `traceID` is there: v2 first,
    /// v1 when the v2 path does not exist. `prefix` is prepended to Tempo's API paths.
    static func traceVisible(_ endpoint: HTTPEndpoint, prefix: String = "", traceID: String, useV1: inout Bool,
                             deadline: Deadline, context: ComponentContext) async throws -> Bool {
        if !useV1 {
            let response = try await endpoint.call("GET", "\(prefix)/api/v2/traces/\(traceID)", expect: [200, 404], deadline: deadline, context: context)
            if response.status == 200 {
                guard let answer = JSONValue.parse(response.body), answer.object != nil else {
                    throw ProbeFailure(.unexpectedResponse, "trace-by-id v2 is not a JSON object")
                }
                return try TempoProber.containsTrace(answer["trace"]?["resourceSpans"], traceID)
            }
            // Through Grafana, a 404 with a JSON message is Grafana's own (no such datasource), not Tempo's.
            if !prefix.isEmpty, let message = JSONValue.parse(response.body)?["message"]?.string {
                throw ProbeFailure(.httpStatus, "GET \(prefix)/api/v2/traces answered 404: \(message)")
            }
            useV1 = true
        }
        let response = try await endpoint.call("GET", "\(prefix)/api/traces/\(traceID)", expect: [200, 404], deadline: deadline, context: context)
        guard response.status == 200 else {
            if !prefix.isEmpty, let message = JSONValue.parse(response.body)?["message"]?.string {
                throw ProbeFailure(.httpStatus, "GET \(prefix)/api/traces answered 404: \(message)")
            }
            try TempoProber.checkTraceNotFound(response)
            return false
        }
        guard let answer = JSONValue.parse(response.body) else { throw ProbeFailure(.unexpectedResponse, "trace-by-id v1 is not JSON") }
        return try TempoProber.containsTrace(answer["batches"] ?? answer["resourceSpans"], traceID)
    }

    // MARK: components

    func traceViaCollector(_ context: ComponentContext) async throws {
        let links = try resolvedLinks()
        let collector = try link(links.collector, "collector"), tempo = try link(links.tempo, "tempo")
        Self.linkInfo(context, [("collector", collector.name), ("tempo", tempo.name)])
        let report = Self.reportDeadline(context)
        let traceID = randomHex(bytes: 16), controlID = randomHex(bytes: 16)

        let started = ContinuousClock.now
        try await Self.at("collector_ingest", "collector \(collector.name)") {
            let span = OTLP.span(traceID: traceID, spanID: randomHex(bytes: 8), context: context)
            try await OTLP.push(collector.prober.otlp, "/v1/traces", body: OTLP.traces([span], context: context),
                                rejectedField: "rejectedSpans", deadline: report, context: context)
        }
        let accepted = ContinuousClock.now
        Self.hopDuration(context, "ingest", accepted - started)
        context.step("trace \(traceID) accepted by the collector; control trace \(controlID) goes straight to Tempo")

        // The control span, pushed while Tempo is polled: only read if the pipeline's span does not arrive.
        async let controlPushed: Bool = {
            do {
                let span = OTLP.span(traceID: controlID, spanID: randomHex(bytes: 8), context: context)
                try await OTLP.push(tempo.prober.otlp, "/v1/traces", body: OTLP.traces([span], context: context),
                                    rejectedField: "rejectedSpans", deadline: Self.pollDeadline(report), context: context)
                return true
            } catch {
                return false
            }
        }()

        var useV1 = false
        let pollDeadline = Self.pollDeadline(report)
        var found = false
        try await Self.at("tempo_query", "tempo \(tempo.name)") {
            found = try await Poll.standard.until(pollDeadline) {
                try await Self.traceVisible(tempo.prober.api, traceID: traceID, useV1: &useV1, deadline: report, context: context)
            }
        }
        let visibleAt = ContinuousClock.now
        guard found else {
            var controlSeen = false
            let controlPushed = await controlPushed
            if controlPushed {
                controlSeen = (try? await Self.traceVisible(tempo.prober.api, traceID: controlID, useV1: &useV1,
                                                            deadline: report, context: context)) ?? false
            }
            let waited = ComponentRunner.formatSeconds(visibleAt - accepted)
            if controlSeen {
                throw ProbeFailure(.timeout, "collector \(collector.name) accepted trace \(traceID) but it did not reach Tempo \(tempo.name) within \(waited), while a span pushed straight to Tempo did: the collector's export to Tempo is broken",
                                   hop: "collector_export")
            }
            throw ProbeFailure(.timeout, "trace \(traceID) not visible in Tempo \(tempo.name) within \(waited) after the collector accepted it; "
                               + (controlPushed ? "a span pushed straight to Tempo was not visible either" : "pushing a span straight to Tempo failed too"),
                               hop: "tempo_visible")
        }
        Self.hopDuration(context, "visible", visibleAt - accepted)
        Self.endToEnd(context, visibleAt - started)
        context.shared.set(Self.traceKey, PushedTrace(id: traceID, pushStarted: started))
    }

    func traceViaGrafana(_ context: ComponentContext) async throws {
        let links = try resolvedLinks()
        let grafana = try link(links.grafana, "grafana"), tempo = try link(links.tempo, "tempo")
        Self.linkInfo(context, [("grafana", grafana.name), ("tempo", tempo.name)])
        guard let trace = context.shared[Self.traceKey, as: PushedTrace.self], let uid = grafanaDatasource else {
            throw ProbeFailure(.dependencyFailed, "no trace was pushed")
        }
        let report = Self.reportDeadline(context)
        let prefix = "/api/datasources/proxy/uid/\(urlEncode(uid))"
        let started = ContinuousClock.now
        var useV1 = false
        var found = false
        try await Self.at("grafana_proxy", "grafana \(grafana.name) datasource \(uid)") {
            found = try await Poll.standard.until(Self.pollDeadline(report)) {
                try await Self.traceVisible(grafana.prober.endpoint, prefix: prefix, traceID: trace.id, useV1: &useV1,
                                            deadline: report, context: context)
            }
        }
        let now = ContinuousClock.now
        guard found else {
            throw ProbeFailure(.timeout, "trace \(trace.id) is in Tempo \(tempo.name) but Grafana \(grafana.name)'s proxy to datasource \(uid) did not return it within \(ComponentRunner.formatSeconds(now - started))",
                               hop: "grafana_proxy")
        }
        Self.hopDuration(context, "grafana_proxy", now - started)
        Self.endToEnd(context, now - trace.pushStarted)
    }

    struct Instance: Sendable {
        let address: String
        let port: Int
        let redis: Bool
    }

    func serviceDiscovery(_ context: ComponentContext) async throws {
        let links = try resolvedLinks()
        let consul = try link(links.consul, "consul")
        Self.linkInfo(context, [("consul", consul.name)])
        let report = Self.reportDeadline(context)
        var firstFailure: ProbeFailure?
        var catalogTime = Duration.zero, connectTime = Duration.zero

        for service in consulServices {
            let started = ContinuousClock.now
            var instances: [Instance] = []
            do {
                instances = try await passingInstances(service, consul: consul, deadline: report, context: context)
            } catch let failure as ProbeFailure {
                firstFailure = firstFailure ?? ProbeFailure(failure.reason, "consul \(consul.name) service \(service): \(failure.message)", hop: "consul_catalog")
                continue
            }
            catalogTime += ContinuousClock.now - started
            let connectStarted = ContinuousClock.now
            let outcomes = await instances.concurrentMap(maxConcurrent: Self.maxConcurrentInstanceChecks) { instance in
                await self.answers(instance, service: service, deadline: report, context: context)
            }
            connectTime = max(connectTime, ContinuousClock.now - connectStarted)
            let reachable = outcomes.filter { $0 == nil }.count
            for (state, count) in [("registered", instances.count), ("reachable", reachable)] {
                context.fact("infraprobe_pipeline_service_instances", help: "Passing instances Consul lists for a service, and how many of them answer on their address.",
                             labels: ["consul_service": service, "state": state], value: Double(count))
            }
            if instances.isEmpty {
                firstFailure = firstFailure ?? ProbeFailure(.unexpectedResponse, "consul \(consul.name) lists no passing instance of \(service)", hop: "consul_catalog")
            } else if let failure = outcomes.compactMap({ $0 }).first {
                firstFailure = firstFailure ?? ProbeFailure(failure.reason, "\(service): \(instances.count - reachable) of \(instances.count) passing instances do not answer; \(failure.message)",
                                                            hop: "instance_connect")
            }
        }
        Self.hopDuration(context, "consul_catalog", catalogTime)
        Self.hopDuration(context, "instance_connect", connectTime)
        if let firstFailure { throw firstFailure }
    }

    /// `GET /v1/health/service/<name>?passing`: instances whose every check passes.
    func passingInstances(_ service: String, consul: (name: String, prober: ConsulProber), deadline: Deadline,
                          context: ComponentContext) async throws -> [Instance] {
        let response = try await consul.prober.consulCall("GET", "/v1/health/service/\(urlEncode(service))?passing",
                                                          deadline: deadline, context: context)
        guard let entries = JSONValue.parse(response.body)?.array else {
            throw ProbeFailure(.unexpectedResponse, "/v1/health/service/\(service) is not a JSON array")
        }
        if entries.isEmpty { try ConsulProber.rejectACLFiltered(response, what: "the instances of \(service)") }
        return try entries.map { entry in
            // An empty Service.Address means the node's address (Consul's own rule).
            let serviceAddress = entry["Service"]?["Address"]?.string ?? ""
            let address = serviceAddress.isEmpty ? (entry["Node"]?["Address"]?.string ?? "") : serviceAddress
            guard !address.isEmpty, let port = entry["Service"]?["Port"]?.int, (1...65535).contains(port) else {
                throw ProbeFailure(.unexpectedResponse, "an instance of \(service) has no address or port")
            }
            let tags = entry["Service"]?["Tags"]?.array?.compactMap(\.string) ?? []
            return Instance(address: address, port: port, redis: redisServices.contains(service) || tags.contains("redis"))
        }
    }

    /// TCP connect to the instance (and PING for Redis); nil when it answers.
    func answers(_ instance: Instance, service: String, deadline: Deadline, context: ComponentContext) async -> ProbeFailure? {
        let address = RedisAddress.tcp(host: instance.address, port: instance.port)
        // Instances still queued behind hung ones when the deadline comes are not dialled: each
        // would only open a socket to time out at once, and the answer would wait for them all.
        guard !deadline.hasPassed else {
            return ProbeFailure(.timeout, "\(address): not checked before the deadline")
        }
        let started = ContinuousClock.now
        let connection = RedisConnection.open(to: address, deadline: deadline, resolver: executor)
        let failure: ProbeFailure?
        do {
            _ = try await connection.connected(before: deadline).value()
            if instance.redis {
                let reply = try await connection.send([["PING"]], before: deadline).value()[0]
                switch reply {
                case .status("PONG"): failure = nil
                // A password-protected Redis answering NOAUTH is still a Redis answering.
                case .error(let message) where message.hasPrefix("NOAUTH") || message.hasPrefix("WRONGPASS"): failure = nil
                default: failure = ProbeFailure(.unexpectedResponse, "\(address): PING answered \(reply)")
                }
            } else {
                failure = nil
            }
        } catch {
            failure = RedisSession.failure(for: error, address: address)
        }
        connection.close()
        let took = ComponentRunner.formatSeconds(ContinuousClock.now - started)
        context.step("\(service) instance \(address)\(instance.redis ? " (PING)" : "") → \(failure.map { "\($0)" } ?? "answers") in \(took)")
        return failure
    }
}
