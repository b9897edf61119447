import FoundationEssentials
import Glibc
import Logging

/// Wires config, probe service, web routes and the HTTP server together; owns reloads.
/// The executable builds one from flags; tests build one on port 0.
public final class ExporterRuntime: Sendable {
    public struct Settings: Sendable {
        public var configFile: String
        public var listen: ListenAddress
        public var web = WebOptions()
        public var server = HTTPServerOptions()
        public var maxRequests = 40
        /// Scrapes that may join one running probe of a target (DESIGN: single-flight).
        public var maxJoinersPerProbe = 8
        public var historyLimit = 100
        public var historyByteLimit = ProbeService.defaultHistoryByteLimit
        /// From `--tracing.otlp-endpoint`: nil leaves probe traces off.
        public var tracing: TraceExporter.Options?
        /// From `--web.config.file`: TLS material goes to the server, auth policy to the web app.
        public var webConfig: WebConfig? {
            didSet {
                server.tls = webConfig?.tls
                web.security = webConfig ?? WebConfig()
            }
        }

        /// The file `webConfig` came from: watched, and re-read when it or a file it names changes.
        public var webConfigFile: String?
        public var webConfigPollInterval: Duration = .seconds(3)
        /// nil: no janitor (library default, so embedding tests see only their own requests);
        /// the executable turns it on.
        public var janitor: Janitor.Options?
        public var cleanupLedger = CleanupLedger.Options()
        /// How long shutdown waits for pending removals.
        public var cleanupDrainLimit: Duration = .seconds(10)

        public init(configFile: String, listen: ListenAddress) {
            self.configFile = configFile
            self.listen = listen
        }
    }

    public let service: ProbeService
    public let server: HTTPServer
    public let janitor: Janitor?
    public let cleanupLedger: CleanupLedger
    private let cleanupDrainLimit: Duration
    private let loader: ConfigLoader
    private let configFile: String
    private let logger: Logger
    private let reloadLock = PthreadLock()
    private let webConfigWatcher: WebConfigWatcher?
    /// Reloads run one at a time anyway (the lock): one thread of their own and a short queue,
    /// so a burst of `POST /-/reload` neither waits on the probes' blocking threads nor holds them.
    private static let reloadExecutor = BlockingExecutor(maxThreads: 1, maxQueued: 4)
    static let reloadWait: Duration = .seconds(30)

    public init(settings: Settings, registry: ProberRegistry = .standard, logger: Logger = Logger(label: "infraprobe")) throws {
        cleanupLedger = CleanupLedger(options: settings.cleanupLedger, logger: logger)
        cleanupDrainLimit = settings.cleanupDrainLimit
        let environment = ProberEnvironment(cleanupLedger: cleanupLedger)
        loader = ConfigLoader(registry: registry, environment: environment)
        configFile = settings.configFile
        self.logger = logger
        let config = try loader.load(file: settings.configFile)
        let metrics = SelfMetrics(version: BuildInfo.version, revision: BuildInfo.revision)
        cleanupLedger.report(to: metrics)
        let tracer = settings.tracing.map { TraceExporter(options: $0, metrics: metrics, instanceID: environment.instanceID, logger: logger) }
        service = ProbeService(config: config, environment: environment, metrics: metrics,
                               maxConcurrentProbes: settings.maxRequests, maxJoinersPerProbe: settings.maxJoinersPerProbe,
                               historyLimit: settings.historyLimit,
                               historyByteLimit: settings.historyByteLimit, tracer: tracer, logger: logger)
        // Reading and parsing a large file takes a while (0.8 s for 9,000 targets in a debug
        // build): off the cooperative pool, so probes and scrapes go on meanwhile.
        // Set once the watcher exists (it needs the app, which needs this closure).
        let watcher = Locked<WebConfigWatcher?>(nil)
        let reloader: WebApp.Reloader = { [loader, configFile, service, logger, reloadLock] in
            do {
                return try await Self.reloadExecutor.run(before: .after(Self.reloadWait)) {
                    watcher.current?.check()
                    return Self.reload(loader: loader, file: configFile, service: service, logger: logger, lock: reloadLock)
                }
            } catch {
                return .failure(ConfigError(file: configFile, line: nil, key: "", message: "reload not started: \(error)"))
            }
        }
        let app = WebApp(service: service, options: settings.web, reloader: reloader, logger: logger)
        let server = HTTPServer(listen: settings.listen, options: settings.server, executor: { app.executorPreference(for: $0) }) { request, facts in
            await app.handle(request, facts)
        }
        self.server = server
        let probeService = service
        janitor = settings.janitor.map { options in
            Janitor(options: options, metrics: metrics, logger: logger) { probeService.config.targets }
        }
        for warning in settings.webConfig?.warnings ?? [] { logger.warning("web config", metadata: ["warning": "\(warning)"]) }
        if let file = settings.webConfigFile, let current = settings.webConfig {
            webConfigWatcher = WebConfigWatcher(file: file, current: current, interval: settings.webConfigPollInterval,
                                                metrics: metrics, logger: logger) { config in
                if config.tls != app.currentSecurity.tls { try server.replaceTLS(config.tls) }
                app.replaceSecurity(config)
            }
        } else {
            webConfigWatcher = nil
        }
        watcher.withLock { $0 = webConfigWatcher }
    }

    /// Re-reads the web config now if it changed (the poll does the same every few seconds).
    @discardableResult
    public func reloadWebConfig() -> Result<Void, ConfigError>? { webConfigWatcher?.check() }

    public func start() throws {
        try server.start()
        webConfigWatcher?.start()
        service.tracer?.start()
        janitor?.start()
        logger.info("listening", metadata: ["port": "\(server.port)", "targets": "\(service.config.targets.count)"])
    }

    public func stop() {
        logger.info("shutting down; waiting for in-flight requests", metadata: ["in_flight": "\(server.inFlightCount)"])
        webConfigWatcher?.stop()
        janitor?.stop()
        server.stop()
        service.tracer?.stop()
    }

    /// `stop()` from async code: the wait for in-flight requests happens on a thread of its own,
    /// leaving the cooperative pool to the handlers being waited for.
    public func stopOffPool() async {
        logger.info("shutting down; waiting for in-flight requests", metadata: ["in_flight": "\(server.inFlightCount)"])
        janitor?.stop()
        await server.stopOffPool()
        if server.inFlightCount > 0 {
            logger.warning("requests still in flight after the shutdown grace; exiting without waiting", metadata: ["in_flight": "\(server.inFlightCount)"])
        }
        let left = await cleanupLedger.drain(within: cleanupDrainLimit)
        if left > 0 {
            logger.warning("exiting with removals still pending; the janitor of the next start finds them", metadata: ["pending": "\(left)"])
        }
    }

    @discardableResult
    public func reload() -> Result<Void, ConfigError> {
        reloadWebConfig()
        return Self.reload(loader: loader, file: configFile, service: service, logger: logger, lock: reloadLock)
    }

    private static func reload(loader: ConfigLoader, file: String, service: ProbeService, logger: Logger, lock: PthreadLock) -> Result<Void, ConfigError> {
        lock.lock()
        defer { lock.unlock() }
        do {
            let config = try loader.load(file: file)
            service.replaceConfig(config)
            service.metrics.recordReload(success: true)
            logger.info("configuration reloaded", metadata: ["targets": "\(config.targets.count)"])
            return .success(())
        } catch let error as ConfigError {
            service.metrics.recordReload(success: false)
            logger.error("configuration reload failed; keeping the previous configuration", metadata: ["error": "\(error)"])
            return .failure(error)
        } catch {
            service.metrics.recordReload(success: false)
            return .failure(ConfigError(file: file, line: nil, key: "", message: "\(error)"))
        }
    }
}
