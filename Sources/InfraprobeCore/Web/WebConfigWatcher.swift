import FoundationEssentials
import Glibc
import Logging

/// Re-reads `--web.config.file` when it, or a certificate, key or CA file it names, changes — as
/// exporter-toolkit re-reads it per connection, so certificates rotate without a restart. Files
/// are fingerprinted by content every `interval` (and on demand, e.g. on SIGHUP); a new
/// fingerprint is loaded and handed to `apply`. A broken file keeps the config in force, is
/// logged with file, line and key, and counted, once per distinct broken content.
public final class WebConfigWatcher: Sendable {
    public typealias Apply = @Sendable (WebConfig) throws -> Void

    public let file: String
    public let interval: Duration
    private let apply: Apply
    private let metrics: SelfMetrics
    private let logger: Logger
    private struct State {
        var files: [String]
        var fingerprint: [Int]
        var running = true
    }
    private let state: Locked<State>
    private let checkLock = PthreadLock()

    public init(file: String, current: WebConfig, interval: Duration, metrics: SelfMetrics, logger: Logger, apply: @escaping Apply) {
        self.file = file
        self.interval = interval
        self.apply = apply
        self.metrics = metrics
        self.logger = logger
        let files = current.files.isEmpty ? [file] : current.files
        state = Locked(State(files: files, fingerprint: Self.fingerprint(files)))
    }

    public func start() {
        NativeThread.start(name: "infraprobe-webconfig") { [self] in
            while state.current.running {
                let (seconds, attoseconds) = interval.components
                usleep(UInt32(clamping: seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
                guard state.current.running else { return }
                check()
            }
        }
    }

    public func stop() { state.withLock { $0.running = false } }

    /// Loads the file if anything it depends on changed. Returns nil when nothing changed.
    @discardableResult
    public func check() -> Result<Void, ConfigError>? {
        checkLock.lock()
        defer { checkLock.unlock() }
        let (files, previous) = state.withLock { ($0.files, $0.fingerprint) }
        let now = Self.fingerprint(files)
        guard now != previous else { return nil }
        do {
            let config = try WebConfig.load(file: file)
            try apply(config)
            // Fingerprint what was loaded (the list of files may have changed with it).
            state.withLock { $0.files = config.files; $0.fingerprint = Self.fingerprint(config.files) }
            metrics.recordWebConfigReload(success: true)
            logger.info("web config reloaded", metadata: ["file": "\(file)", "tls": "\(config.tls != nil)"])
            for warning in config.warnings { logger.warning("web config", metadata: ["warning": "\(warning)"]) }
            return .success(())
        } catch {
            // Remember the broken content: it is reported once, not on every poll.
            state.withLock { $0.fingerprint = now }
            metrics.recordWebConfigReload(success: false)
            let configError = error as? ConfigError ?? ConfigError(file: file, line: nil, key: "", message: "\(error)")
            logger.error("web config reload failed; keeping the previous web config", metadata: ["error": "\(configError)"])
            return .failure(configError)
        }
    }

    /// Per file: a hash of its content (or of the read error), so a same-second rewrite is seen too.
    static func fingerprint(_ files: [String]) -> [Int] {
        files.map { path in
            var hasher = Hasher()
            hasher.combine(path)
            switch Result(catching: { try RegularFileReader.read(path, limit: RegularFileReader.configLimit) }) {
            case .success(let bytes): hasher.combine(bytes)
            case .failure(let error): hasher.combine("\(error)")
            }
            return hasher.finalize()
        }
    }
}
