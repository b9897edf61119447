import FoundationEssentials

/// What `infraprobe [serve]` was asked to do, every value range-checked.
public struct ServeOptions: Sendable {
    public var configFile = "infraprobe.yml"
    /// Validate the config (and web config) and exit instead of serving.
    public var configCheck = false
    public var listenAddress = ListenAddress(":10025")!
    public var telemetryPath = "/metrics"
    public var webConfigFile: String?
    public var connectionTimeoutSeconds = 15
    public var maxRequests = 40
    public var maxConnections = 1024
    public var maxConnectionsPerIP = 0
    public var timeoutOffset = Duration.milliseconds(500)
    public var historyLimit = 100
    public var historyMaxBytes = ProbeService.defaultHistoryByteLimit
    public var tracingEndpoint: String?
    public var tracingQueueSize = 1000
    public var tracingExportTimeout = Duration.seconds(5)
    /// Zero turns the janitor off.
    public var janitorInterval = Duration.seconds(600)
    public var janitorMinimumAge = Duration.seconds(900)
    public var janitorLimit = 100
    public var logging = LogOptions()

    public static let abstract = "Serve /probe and /metrics (the default)."

    static let flags = [
        FlagSpec("config.file", help: "Configuration file.", default: "infraprobe.yml"),
        FlagSpec("config.check", .boolean, help: "Validate the configuration file (and --web.config.file, if given) and exit (0 valid, 1 invalid)."),
        FlagSpec("web.listen-address", help: "Address to listen on, e.g. :10025 or 127.0.0.1:10025.", default: ":10025"),
        FlagSpec("web.telemetry-path", help: "Path under which to expose the exporter's own metrics.", default: "/metrics"),
        FlagSpec("web.config.file", help: "exporter-toolkit web config (TLS, basic auth, headers, rate limit); re-read when it or a file it names changes."),
        FlagSpec("web.connection-timeout", help: "Seconds after which idle or half-sent requests are closed.", default: "15"),
        FlagSpec("web.max-requests", help: "Maximum concurrent probe requests; more get 503.", default: "40"),
        FlagSpec("web.max-connections", help: "Maximum open HTTP connections; more wait in the listen backlog.", default: "1024"),
        FlagSpec("web.max-connections-per-ip", help: "Maximum open HTTP connections per client IP (0: no limit).", default: "0"),
        FlagSpec("probe.timeout-offset", help: "Seconds subtracted from Prometheus' scrape timeout.", default: "0.5"),
        FlagSpec("history.limit", help: "Number of recent probes kept for / and /logs.", default: "100"),
        FlagSpec("history.max-bytes", help: "Memory budget of the kept probes (estimated bytes); the oldest go first past it.",
                 default: "\(ProbeService.defaultHistoryByteLimit)"),
        FlagSpec("tracing.otlp-endpoint", help: "OTLP/HTTP base URL (e.g. http://127.0.0.1:4318) to export every probe to as a trace; off when unset."),
        FlagSpec("tracing.queue-size", help: "Probe traces held for export; when full, new ones are dropped and counted.", default: "1000"),
        FlagSpec("tracing.export-timeout", help: "Seconds one OTLP export may take.", default: "5"),
        FlagSpec("janitor.interval", help: "How often to sweep the targets for objects probes left behind (a killed exporter, a hung service); also once at startup. 0 turns it off.",
                 default: "10m"),
        FlagSpec("janitor.min-age", help: "Only objects older than this are swept: longer than any probe runs, here or in another exporter.", default: "15m"),
        FlagSpec("janitor.limit", help: "Most objects one sweep removes from one target.", default: "100"),
    ] + LogOptions.flags

    public init() {}

    init(_ flags: ParsedFlags) throws(UsageError) {
        configFile = flags.string("config.file", default: configFile)
        configCheck = flags.bool("config.check")
        if let text = flags.string("web.listen-address") {
            guard let address = ListenAddress(text) else { throw UsageError("--web.listen-address must look like :10025 or 127.0.0.1:10025") }
            listenAddress = address
        }
        telemetryPath = flags.string("web.telemetry-path", default: telemetryPath)
        guard telemetryPath.hasPrefix("/") else { throw UsageError("--web.telemetry-path must start with /") }
        webConfigFile = flags.string("web.config.file")
        connectionTimeoutSeconds = try flags.int("web.connection-timeout", default: connectionTimeoutSeconds, in: 1...3600)
        maxRequests = try flags.int("web.max-requests", default: maxRequests, in: 1...1_000_000)
        maxConnections = try flags.int("web.max-connections", default: maxConnections, in: 1...1_000_000)
        maxConnectionsPerIP = try flags.int("web.max-connections-per-ip", default: maxConnectionsPerIP, in: 0...1_000_000)
        timeoutOffset = try Self.seconds(flags, "probe.timeout-offset", timeoutOffset, in: 0...3600)
        historyLimit = try flags.int("history.limit", default: historyLimit, in: 0...1_000_000)
        historyMaxBytes = try flags.int("history.max-bytes", default: historyMaxBytes, in: 0...(1 << 40))
        if let endpoint = flags.string("tracing.otlp-endpoint") {
            guard let url = URL(string: endpoint), ["http", "https"].contains(url.scheme ?? ""), url.host != nil,
                  url.query == nil, url.user == nil else {
                throw UsageError("--tracing.otlp-endpoint must be an http(s) URL without credentials or query, e.g. http://127.0.0.1:4318")
            }
            tracingEndpoint = endpoint
        }
        tracingQueueSize = try flags.int("tracing.queue-size", default: tracingQueueSize, in: 1...1_000_000)
        tracingExportTimeout = try Self.seconds(flags, "tracing.export-timeout", tracingExportTimeout, in: 0.001...300)
        if let text = flags.string("janitor.interval") {
            guard let interval = text == "0" ? .zero : DurationParser.parse(text) else {
                throw UsageError("--janitor.interval must be a duration such as 10m, or 0 to turn the janitor off")
            }
            janitorInterval = interval
        }
        if let text = flags.string("janitor.min-age") {
            guard let age = DurationParser.parse(text), age >= .seconds(1) else {
                throw UsageError("--janitor.min-age must be a duration of at least 1s, such as 15m")
            }
            janitorMinimumAge = age
        }
        janitorLimit = try flags.int("janitor.limit", default: janitorLimit, in: 1...100_000)
        logging = try LogOptions(flags)
    }

    /// Seconds as a `Duration`; the default is kept exactly when the flag is not given.
    private static func seconds(_ flags: ParsedFlags, _ name: String, _ fallback: Duration, in range: ClosedRange<Double>) throws(UsageError) -> Duration {
        guard flags.string(name) != nil else { return fallback }
        return .milliseconds(Int64((try flags.seconds(name, default: 0, in: range) * 1000).rounded()))
    }
}
