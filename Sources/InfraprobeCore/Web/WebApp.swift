import FoundationEssentials
import Glibc
import Logging

/// Options of the web layer that come from flags.
public struct WebOptions: Sendable {
    public var telemetryPath = "/metrics"
    public var timeoutOffset: Duration = .milliseconds(500)
    /// TLS client-certificate policy and basic-auth users from `--web.config.file`.
    public var security = WebConfig()

    public init() {}
}

/// Routes HTTP requests to probes, self-metrics and the operator pages (DESIGN §3).
public final class WebApp: Sendable {
    public typealias Reloader = @Sendable () async -> Result<Void, ConfigError>

    let service: ProbeService
    let metrics: SelfMetrics
    let options: WebOptions
    let reloader: Reloader?
    let logger: Logger
    let basicAuth = BasicAuth()
    /// The web config in force (TLS client policy, users, headers, rate limit); replaced on reload.
    private let security: Locked<(config: WebConfig, limiter: RateLimiter?)>
    let landingPage = LandingPageCache()

    public init(service: ProbeService, options: WebOptions = WebOptions(), reloader: Reloader? = nil,
                logger: Logger = Logger(label: "infraprobe.web")) {
        self.service = service
        self.metrics = service.metrics
        self.options = options
        self.reloader = reloader
        self.logger = logger
        security = Locked((options.security, options.security.rateLimit.map(RateLimiter.init)))
    }

    /// Applies a reloaded web config to the next requests; a changed rate limit starts a fresh bucket.
    public func replaceSecurity(_ config: WebConfig) {
        security.withLock { current in
            let limiter = config.rateLimit == current.config.rateLimit ? current.limiter : config.rateLimit.map(RateLimiter.init)
            current = (config, limiter)
        }
    }

    public var currentSecurity: WebConfig { security.current.config }

    /// The executor a request is best handled on: a `/probe` of a named target whose prober
    /// runs on an executor of its own (the Redis loop) is handled there too, so the probe starts,
    /// is awaited and is rendered on the thread that runs it, and the response leaves from there,
    /// without two round trips through the cooperative pool. Everything else runs on the pool.
    public func executorPreference(for request: HTTPRequest) -> (any TaskExecutor)? {
        guard request.path == "/probe", request.query["module"] == nil, let name = request.query["target"] else { return nil }
        return service.config.target(named: name)?.prober.executorPreference
    }

    public func handle(_ request: HTTPRequest, _ facts: ConnectionFacts) async -> HTTPResponse {
        let (config, limiter) = security.current
        if let limiter, !limiter.allow() {
            metrics.recordRequest(handler: handlerName(request.path), code: 429)
            return .text(429, "Too Many Requests")
        }
        var response = await authorizedResponse(request, facts, config)
        response.headers += config.headers.map { ($0.name, $0.value) }
        return response
    }

    private func authorizedResponse(_ request: HTTPRequest, _ facts: ConnectionFacts, _ config: WebConfig) async -> HTTPResponse {
        if let denied = await config.authorize(path: request.path, facts: facts, verifier: basicAuth) {
            metrics.recordRequest(handler: handlerName(request.path), code: denied.status)
            return denied
        }
        let (handler, response) = await route(request)
        metrics.recordRequest(handler: handler, code: response.status)
        if request.method == "HEAD" {
            var headOnly = response
            headOnly.body = []
            return headOnly
        }
        return response
    }

    private func route(_ request: HTTPRequest) async -> (String, HTTPResponse) {
        let readOnly = ["GET", "HEAD"]
        switch request.path {
        case "/probe":
            guard readOnly.contains(request.method) else { return ("/probe", methodNotAllowed(readOnly)) }
            return ("/probe", await probe(request))
        case options.telemetryPath:
            guard readOnly.contains(request.method) else { return (options.telemetryPath, methodNotAllowed(readOnly)) }
            return (options.telemetryPath, exposition(metrics.families(), request: request))
        case "/-/healthy":
            return ("/-/healthy", .text(200, "Healthy"))
        case "/-/ready":
            return ("/-/ready", .text(200, "Ready"))
        case "/-/reload":
            guard request.method == "POST" || request.method == "PUT" else { return ("/-/reload", methodNotAllowed(["POST", "PUT"])) }
            return ("/-/reload", await reload())
        case "/config":
            guard readOnly.contains(request.method) else { return ("/config", methodNotAllowed(readOnly)) }
            return ("/config", HTTPResponse(status: 200, contentType: "text/plain; charset=utf-8", body: service.config.redactedYAML()))
        case "/logs":
            guard readOnly.contains(request.method) else { return ("/logs", methodNotAllowed(readOnly)) }
            return ("/logs", logs(request))
        case "/":
            guard readOnly.contains(request.method) else { return ("/", methodNotAllowed(readOnly)) }
            return ("/", await landing(request))
        default:
            return ("other", .text(404, "404 page not found"))
        }
    }

    private func handlerName(_ path: String) -> String {
        let known = ["/probe", options.telemetryPath, "/-/healthy", "/-/ready", "/-/reload", "/config", "/logs", "/"]
        return known.contains(path) ? path : "other"
    }

    private func methodNotAllowed(_ allowed: [String]) -> HTTPResponse {
        var response = HTTPResponse.text(405, "method not allowed; use \(allowed.joined(separator: " or "))")
        response.headers.append(("Allow", allowed.joined(separator: ", ")))
        return response
    }

    private func probe(_ request: HTTPRequest) async -> HTTPResponse {
        let config = service.config
        // A typo such as `targt=` must not silently turn into "probe every target".
        if let unknown = request.query.keys.sorted().first(where: { !["target", "module", "debug"].contains($0) }) {
            return .text(400, "unknown parameter \"\(String(unknown.prefix(100)))\"; /probe takes target, module and debug")
        }
        let scrapeTimeout: Duration?
        do {
            scrapeTimeout = try ScrapeTimeout.parse(header: request.header("x-prometheus-scrape-timeout-seconds"))
        } catch {
            return .text(400, error.description)
        }
        let debug = ["true", "1", "yes"].contains(request.query["debug"]?.lowercased() ?? "")
        func timeout(for target: TargetSpec) -> Duration {
            Deadline.probeTimeout(targetTimeout: target.timeout, scrapeTimeout: scrapeTimeout, offset: options.timeoutOffset)
        }
        do {
            if let moduleName = request.query["module"] {
                return try await probeModule(moduleName, request: request, config: config, debug: debug, timeout: timeout)
            }
            if let name = request.query["target"] {
                guard let target = config.target(named: name) else {
                    return .text(400, "unknown target \"\(String(name.prefix(200)))\": not in the configuration")
                }
                let record = try await service.probe(target, timeout: timeout(for: target))
                if debug { return .text(200, DebugReport.render(record)) }
                return probeExposition([record.result], includeOverall: false, request: request)
            }
            guard !config.targets.isEmpty else { return .text(400, "no targets are configured") }
            let records = try await service.probeAll(timeout: timeout)
            if debug { return .text(200, records.map(DebugReport.render).joined(separator: "\n")) }
            return probeExposition(records.map(\.result), includeOverall: true, request: request)
        } catch let error as ProbeService.TooManyWaiting {
            return .text(503, "too many scrapes already waiting on the probe of \"\(String(error.target.prefix(200)))\" (limit \(error.limit)); try again later")
        } catch {
            return .text(503, "too many concurrent probes (limit \(service.maxConcurrentProbes)); try again later")
        }
    }

    /// `/probe?module=M&target=ADDR`: the address is checked against `allowed_targets` before
    /// anything connects to it.
    private func probeModule(_ name: String, request: HTTPRequest, config: InfraprobeConfig, debug: Bool,
                             timeout: (TargetSpec) -> Duration) async throws -> HTTPResponse {
        guard let module = config.module(named: name) else {
            return .text(400, "unknown module \"\(String(name.prefix(200)))\"")
        }
        let forms = module.acceptsURLTargets ? "host, host:port, [v6]:port or http(s)://host:port" : "host, host:port or [v6]:port"
        guard let text = request.query["target"], !text.isEmpty else {
            return .text(400, "module probes need a target parameter (\(forms))")
        }
        let address: ModuleTarget
        switch module.parseTarget(text) {
        case .success(let parsed): address = parsed
        case .failure(let rejection):
            return .text(400, "target \"\(ModuleTarget.shown(text))\" \(rejection.reason); module \"\(name)\" takes \(forms)")
        }
        guard module.allows(address) else {
            logger.warning("module probe refused by allowed_targets", metadata: ["module": "\(name)", "target": "\(address.text)"])
            return .text(403, "target \"\(address.text)\" is not in allowed_targets of module \"\(name)\"")
        }
        let target: TargetSpec
        do {
            target = try module.target(for: address)
        } catch let error as ConfigError {
            return .text(400, "module \"\(name)\" cannot probe \"\(address.text)\": \(error.key): \(error.message)")
        }
        let record = try await service.probe(target, module: name, timeout: timeout(target))
        if debug { return .text(200, DebugReport.render(record)) }
        return probeExposition([record.result], includeOverall: false, request: request)
    }

    private func probeExposition(_ results: [TargetProbeResult], includeOverall: Bool, request: HTTPRequest) -> HTTPResponse {
        let format = ExpositionFormat.negotiate(accept: request.header("accept"))
        var response = HTTPResponse(status: 200, contentType: format.contentType, body: "")
        response.body = ProbeExposition.render(results, includeOverall: includeOverall, format: format)
        return response
    }

    private func exposition(_ families: [MetricFamily], request: HTTPRequest) -> HTTPResponse {
        let format = ExpositionFormat.negotiate(accept: request.header("accept"))
        var response = HTTPResponse(status: 200, contentType: format.contentType, body: "")
        response.body = ExpositionWriter.writeBytes(families, format: format)
        return response
    }

    private func reload() async -> HTTPResponse {
        guard let reloader else { return .text(500, "reload is not available: no config file") }
        switch await reloader() {
        case .success: return .text(200, "configuration reloaded")
        case .failure(let error): return .text(500, "failed to reload config: \(error)")
        }
    }

    /// `/` and `/?page=N`; a page past the last shows the last, so a page left open keeps
    /// working when targets go away.
    private func landing(_ request: HTTPRequest) async -> HTTPResponse {
        var page = 1
        if let text = request.query["page"] {
            guard let number = Int(text), number >= 1 else {
                return .text(400, "invalid page \"\(String(text.prefix(50)))\": expected a page number from 1")
            }
            page = number
        }
        let (service, telemetryPath) = (service, options.telemetryPath)
        let shown = min(page, LandingPage.pageCount(service: service))
        let html = await landingPage.page(shown, revision: service.revision) {
            LandingPage.render(service: service, telemetryPath: telemetryPath, page: shown)
        }
        return HTTPResponse(status: 200, contentType: "text/html; charset=utf-8", body: html)
    }

    private func logs(_ request: HTTPRequest) -> HTTPResponse {
        guard let text = request.query["id"], let id = Int(text) else { return .text(400, "missing or invalid id parameter") }
        guard let record = service.record(id: id) else { return .text(404, "probe \(id) is not in the history (kept: last \(service.historyLimit))") }
        return .text(200, DebugReport.render(record))
    }
}
