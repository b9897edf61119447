import FoundationEssentials
import Glibc
import InfraprobeCore
import Logging

/// `infraprobe [serve]`: wires the options into an `ExporterRuntime` and serves until SIGTERM.
enum ServeCommand {
    /// The process's exit status.
    static func run(_ options: ServeOptions) async -> Int32 {
        let logger = options.logging.bootstrap()
        signal(SIGPIPE, SIG_IGN)
        if options.configCheck { return checkConfig(options) }
        var settings = ExporterRuntime.Settings(configFile: options.configFile, listen: options.listenAddress)
        if let webConfigFile = options.webConfigFile {
            do {
                settings.webConfig = try WebConfig.load(file: webConfigFile)
                settings.webConfigFile = webConfigFile
            } catch {
                StandardError.write("invalid --web.config.file: \(error)\n")
                return 1
            }
        }
        settings.server.connectionTimeoutSeconds = UInt32(options.connectionTimeoutSeconds)
        settings.server.connectionLimit = UInt32(options.maxConnections)
        settings.server.perIPConnectionLimit = UInt32(options.maxConnectionsPerIP)
        OpenFileLimit.raiseSoftToHard()
        settings.web.telemetryPath = options.telemetryPath
        settings.web.timeoutOffset = options.timeoutOffset
        settings.maxRequests = options.maxRequests
        settings.historyLimit = options.historyLimit
        settings.historyByteLimit = options.historyMaxBytes
        if let endpoint = options.tracingEndpoint {
            var tracing = TraceExporter.Options(endpoint: endpoint)
            tracing.queueCapacity = options.tracingQueueSize
            tracing.exportTimeout = options.tracingExportTimeout
            settings.tracing = tracing
        }
        if options.janitorInterval > .zero {
            var janitor = Janitor.Options()
            janitor.interval = options.janitorInterval
            janitor.minimumAge = options.janitorMinimumAge
            janitor.limit = options.janitorLimit
            settings.janitor = janitor
        }
        let runtime: ExporterRuntime
        do {
            runtime = try ExporterRuntime(settings: settings, logger: logger)
        } catch {
            logger.error("cannot start", metadata: ["error": "\(error)"])
            return 1
        }
        // Before the port answers: a signal sent the moment it does must not meet the default
        // action (SIGHUP and SIGTERM would kill the process without a reload or a graceful stop).
        let termination = SignalWaiter.install(onReload: { runtime.reload() },
                                               onRepeat: { logger.info("already shutting down; waiting for in-flight requests") })
        do {
            try runtime.start()
        } catch {
            logger.error("cannot start", metadata: ["error": "\(error)"])
            return 1
        }
        await termination.wait()
        await runtime.stopOffPool()
        return 0
    }

    /// `--config.check`: 0 when the config (and web config) load, 1 with the error otherwise.
    private static func checkConfig(_ options: ServeOptions) -> Int32 {
        do {
            let config = try ConfigLoader(environment: ProberEnvironment()).load(file: options.configFile)
            print("\(options.configFile): OK, \(config.targets.count) target(s)")
            if let webConfigFile = options.webConfigFile {
                let web = try WebConfig.load(file: webConfigFile)
                web.warnings.forEach { StandardError.write("warning: \($0)\n") }
                print("\(webConfigFile): OK, \(web.tls == nil ? "plain HTTP" : "TLS"), \(web.basicAuthUsers.count) user(s)")
            }
            return 0
        } catch {
            StandardError.write("\(error)\n")
            return 1
        }
    }
}
