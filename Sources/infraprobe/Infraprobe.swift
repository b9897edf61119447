import ArgumentParser
import Dispatch
import FoundationEssentials
import Glibc
import InfraprobeCore
import Logging

struct Infraprobe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infraprobe",
        abstract: "Prometheus exporter that functionally tests infrastructure services on every scrape.",
        version: "infraprobe \(BuildInfo.version) (revision \(BuildInfo.revision), Swift \(BuildInfo.swiftVersion))",
        subcommands: [Serve.self, Check.self],
        defaultSubcommand: Serve.self)
}

struct LoggingOptions: ParsableArguments {
    @Option(name: .customLong("log.level"), help: "Only log messages at or above this level: debug, info, warn, error.")
    var level: String = "info"

    @Option(name: .customLong("log.format"), help: "Log line format: logfmt or json.")
    var format: String = "logfmt"

    func validate() throws {
        guard Self.level(level) != nil else { throw ValidationError("--log.level must be one of debug, info, warn, error") }
        guard LogFormat(rawValue: format) != nil else { throw ValidationError("--log.format must be logfmt or json") }
    }

    static func level(_ text: String) -> Logger.Level? {
        ["debug": .debug, "info": .info, "warn": .warning, "warning": .warning, "error": .error][text]
    }

    func bootstrap() -> Logger {
        let level = Self.level(self.level) ?? .info
        let format = LogFormat(rawValue: self.format) ?? .logfmt
        LoggingSystem.bootstrap { label in ExporterLogHandler(label: label, level: level, format: format) }
        return Logger(label: "infraprobe")
    }
}

struct Serve: AsyncParsableCommand {
    // Named, not derived: ArgumentParser derives a name with String(describing:), reflection that
    // cost a measurable part of startup (issue 13).
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve /probe and /metrics (the default).")

    @Option(name: .customLong("config.file"), help: "Configuration file.")
    var configFile = "infraprobe.yml"

    @Flag(name: .customLong("config.check"), help: "Validate the configuration file (and --web.config.file, if given) and exit (0 valid, 1 invalid).")
    var configCheck = false

    @Option(name: .customLong("web.listen-address"), help: "Address to listen on, e.g. :10025 or 127.0.0.1:10025.")
    var listenAddress = ":10025"

    @Option(name: .customLong("web.telemetry-path"), help: "Path under which to expose the exporter's own metrics.")
    var telemetryPath = "/metrics"

    @Option(name: .customLong("web.config.file"), help: "exporter-toolkit web config (TLS, basic auth, headers, rate limit); re-read when it or a file it names changes.")
    var webConfigFile: String?

    @Option(name: .customLong("web.connection-timeout"), help: "Seconds after which idle or half-sent requests are closed.")
    var connectionTimeout = 15

    @Option(name: .customLong("web.max-requests"), help: "Maximum concurrent probe requests; more get 503.")
    var maxRequests = 40

    @Option(name: .customLong("web.max-connections"), help: "Maximum open HTTP connections; more wait in the listen backlog.")
    var maxConnections = 1024

    @Option(name: .customLong("web.max-connections-per-ip"), help: "Maximum open HTTP connections per client IP (0: no limit).")
    var maxConnectionsPerIP = 0

    @Option(name: .customLong("probe.timeout-offset"), help: "Seconds subtracted from Prometheus' scrape timeout.")
    var timeoutOffset = 0.5

    @Option(name: .customLong("history.limit"), help: "Number of recent probes kept for / and /logs.")
    var historyLimit = 100

    @Option(name: .customLong("history.max-bytes"), help: "Memory budget of the kept probes (estimated bytes); the oldest go first past it.")
    var historyMaxBytes = ProbeService.defaultHistoryByteLimit

    @Option(name: .customLong("tracing.otlp-endpoint"),
            help: "OTLP/HTTP base URL (e.g. http://127.0.0.1:4318) to export every probe to as a trace; off when unset.")
    var tracingEndpoint: String?

    @Option(name: .customLong("tracing.queue-size"), help: "Probe traces held for export; when full, new ones are dropped and counted.")
    var tracingQueueSize = 1000

    @Option(name: .customLong("tracing.export-timeout"), help: "Seconds one OTLP export may take.")
    var tracingExportTimeout = 5.0

    @Option(name: .customLong("janitor.interval"),
            help: "How often to sweep the targets for objects probes left behind (a killed exporter, a hung service); also once at startup. 0 turns it off.")
    var janitorInterval = "10m"

    @Option(name: .customLong("janitor.min-age"),
            help: "Only objects older than this are swept: longer than any probe runs, here or in another exporter.")
    var janitorMinimumAge = "15m"

    @Option(name: .customLong("janitor.limit"), help: "Most objects one sweep removes from one target.")
    var janitorLimit = 100

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard DurationParser.parse(janitorInterval) != nil || janitorInterval == "0" else {
            throw ValidationError("--janitor.interval must be a duration such as 10m, or 0 to turn the janitor off")
        }
        guard let minimumAge = DurationParser.parse(janitorMinimumAge), minimumAge >= .seconds(1) else {
            throw ValidationError("--janitor.min-age must be a duration of at least 1s, such as 15m")
        }
        guard (1...100_000).contains(janitorLimit) else { throw ValidationError("--janitor.limit must be between 1 and 100000") }
        if let tracingEndpoint {
            guard let url = URL(string: tracingEndpoint), ["http", "https"].contains(url.scheme ?? ""), url.host != nil,
                  url.query == nil, url.user == nil else {
                throw ValidationError("--tracing.otlp-endpoint must be an http(s) URL without credentials or query, e.g. http://127.0.0.1:4318")
            }
        }
        guard (1...1_000_000).contains(tracingQueueSize) else { throw ValidationError("--tracing.queue-size must be between 1 and 1000000") }
        guard tracingExportTimeout.isFinite, tracingExportTimeout > 0, tracingExportTimeout <= 300 else {
            throw ValidationError("--tracing.export-timeout must be between 0 and 300 seconds")
        }
        guard ListenAddress(listenAddress) != nil else { throw ValidationError("--web.listen-address must look like :10025 or 127.0.0.1:10025") }
        guard telemetryPath.hasPrefix("/") else { throw ValidationError("--web.telemetry-path must start with /") }
        guard (1...3600).contains(connectionTimeout) else { throw ValidationError("--web.connection-timeout must be between 1 and 3600 seconds") }
        guard maxRequests > 0 else { throw ValidationError("--web.max-requests must be positive") }
        guard (1...1_000_000).contains(maxConnections) else { throw ValidationError("--web.max-connections must be between 1 and 1000000") }
        guard (0...1_000_000).contains(maxConnectionsPerIP) else { throw ValidationError("--web.max-connections-per-ip must be between 0 and 1000000") }
        guard timeoutOffset >= 0 && timeoutOffset <= 3600 else { throw ValidationError("--probe.timeout-offset must be between 0 and 3600 seconds") }
        guard historyLimit >= 0 else { throw ValidationError("--history.limit must be >= 0") }
        guard historyMaxBytes >= 0 else { throw ValidationError("--history.max-bytes must be >= 0") }
    }

    func run() async throws {
        let logger = logging.bootstrap()
        signal(SIGPIPE, SIG_IGN)
        if configCheck {
            do {
                let config = try ConfigLoader(environment: ProberEnvironment()).load(file: configFile)
                print("\(configFile): OK, \(config.targets.count) target(s)")
                if let webConfigFile {
                    let web = try WebConfig.load(file: webConfigFile)
                    web.warnings.forEach { StandardError.write("warning: \($0)\n") }
                    print("\(webConfigFile): OK, \(web.tls == nil ? "plain HTTP" : "TLS"), \(web.basicAuthUsers.count) user(s)")
                }
                return
            } catch {
                StandardError.write("\(error)\n")
                throw ExitCode(1)
            }
        }
        var settings = ExporterRuntime.Settings(configFile: configFile, listen: ListenAddress(listenAddress)!)
        if let webConfigFile {
            do {
                settings.webConfig = try WebConfig.load(file: webConfigFile)
                settings.webConfigFile = webConfigFile
            } catch {
                StandardError.write("invalid --web.config.file: \(error)\n")
                throw ExitCode(1)
            }
        }
        settings.server.connectionTimeoutSeconds = UInt32(connectionTimeout)
        settings.server.connectionLimit = UInt32(maxConnections)
        settings.server.perIPConnectionLimit = UInt32(maxConnectionsPerIP)
        OpenFileLimit.raiseSoftToHard()
        settings.web.telemetryPath = telemetryPath
        settings.web.timeoutOffset = .milliseconds(Int64(timeoutOffset * 1000))
        settings.maxRequests = maxRequests
        settings.historyLimit = historyLimit
        settings.historyByteLimit = historyMaxBytes
        if let tracingEndpoint {
            var tracing = TraceExporter.Options(endpoint: tracingEndpoint)
            tracing.queueCapacity = tracingQueueSize
            tracing.exportTimeout = .milliseconds(Int64(tracingExportTimeout * 1000))
            settings.tracing = tracing
        }
        if let interval = DurationParser.parse(janitorInterval), interval > .zero {
            var janitor = Janitor.Options()
            janitor.interval = interval
            janitor.minimumAge = DurationParser.parse(janitorMinimumAge) ?? janitor.minimumAge
            janitor.limit = janitorLimit
            settings.janitor = janitor
        }
        let runtime: ExporterRuntime
        do {
            runtime = try ExporterRuntime(settings: settings, logger: logger)
        } catch {
            logger.error("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        // Before the port answers: a signal sent the moment it does must not meet the default
        // action (SIGHUP and SIGTERM would kill the process without a reload or a graceful stop).
        let termination = SignalWaiter.install(onReload: { runtime.reload() },
                                               onRepeat: { logger.info("already shutting down; waiting for in-flight requests") })
        do {
            try runtime.start()
        } catch {
            logger.error("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        await termination.wait()
        await runtime.stopOffPool()
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Probe the configured targets once and print a report (exit 0 all passed, 1 some failed, 2 config error).")

    @Option(name: .customLong("config.file"), help: "Configuration file.")
    var configFile = "infraprobe.yml"

    @Option(name: .customLong("target"), help: "Only this target (repeatable).")
    var targets: [String] = []

    @Option(name: .customLong("format"), help: "Report format: text or json.")
    var format = "text"

    @Option(name: .customLong("cleanup.wait"), help: "Seconds to wait, after the probes, for removals they could not finish in time.")
    var cleanupWait = 10.0

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard ["text", "json"].contains(format) else { throw ValidationError("--format must be text or json") }
        guard cleanupWait.isFinite, (0...300).contains(cleanupWait) else { throw ValidationError("--cleanup.wait must be between 0 and 300 seconds") }
    }

    func run() async throws {
        let logger = logging.bootstrap()
        signal(SIGPIPE, SIG_IGN)
        let environment = ProberEnvironment(cleanupLedger: CleanupLedger(logger: logger))
        let config: InfraprobeConfig
        do {
            config = try ConfigLoader(environment: environment).load(file: configFile)
        } catch {
            StandardError.write("\(error)\n")
            throw ExitCode(2)
        }
        var selected = config.targets
        if !targets.isEmpty {
            for name in targets where config.target(named: name) == nil {
                StandardError.write("\(configFile): unknown target \"\(name)\"\n")
                throw ExitCode(2)
            }
            selected = config.targets.filter { targets.contains($0.name) }
        }
        let results = await withTaskGroup(of: (Int, TargetProbeResult).self) { group in
            for (index, target) in selected.enumerated() {
                group.addTask { (index, await ComponentRunner.run(target: target, deadline: .after(target.timeout), environment: environment)) }
            }
            var collected: [(Int, TargetProbeResult)] = []
            for await item in group { collected.append(item) }
            return collected.sorted { $0.0 < $1.0 }.map(\.1)
        }
        print(format == "json" ? CheckReport.json(results) : CheckReport.text(results), terminator: "")
        // What a probe could not remove by its deadline is retried now: a one-shot check must
        // not leave objects behind any more than the exporter does.
        let left = await environment.cleanupLedger.drain(within: .milliseconds(Int64(cleanupWait * 1000)))
        if left > 0 {
            StandardError.write("warning: \(left) removal(s) still pending after --cleanup.wait=\(cleanupWait)s; the exporter's janitor removes them later\n")
        }
        if !results.allSatisfy(\.success) { throw ExitCode(1) }
    }
}

/// Handles SIGHUP (reload) and turns the first SIGTERM/SIGINT into the end of `Termination.wait()`.
enum SignalWaiter {
    /// A second SIGTERM/SIGINT does not cut the grace short: it only calls `onRepeat`.
    static func install(onReload: @escaping @Sendable () -> Void, onRepeat: @escaping @Sendable () -> Void) -> Termination {
        for signalNumber in [SIGTERM, SIGINT, SIGHUP] { signal(signalNumber, SIG_IGN) }
        let queue = DispatchQueue(label: "infraprobe.signals")
        let termination = Termination()
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
        hangup.setEventHandler { onReload() }
        let stops = [SIGTERM, SIGINT].map { DispatchSource.makeSignalSource(signal: $0, queue: queue) }
        for source in stops {
            source.setEventHandler { if !termination.signal() { onRepeat() } }
        }
        for source in stops + [hangup] { source.resume() }
        // Keep the sources alive for the life of the process.
        SignalSources.keep(stops + [hangup])
        return termination
    }
}

/// The first stop signal, whether it comes before or after someone waits for it.
final class Termination: Sendable {
    private let state = Locked<(signalled: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    /// True for the first signal.
    func signal() -> Bool {
        let (first, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !state.signalled else { return (false, nil) }
            state.signalled = true
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        waiter?.resume()
        return first
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.signalled { return true }
                state.waiter = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }
}

enum SignalSources {
    private static let held = Locked<[any DispatchSourceSignal]>([])
    static func keep(_ sources: [any DispatchSourceSignal]) { held.withLock { $0 += sources } }
}
