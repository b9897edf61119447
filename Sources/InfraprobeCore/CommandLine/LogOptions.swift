import Logging

/// `--log.level` and `--log.format`, shared by every subcommand.
public struct LogOptions: Sendable, Equatable {
    public var level: Logger.Level = .info
    public var format: LogFormat = .logfmt

    static let flags = [
        FlagSpec("log.level", help: "Only log messages at or above this level: debug, info, warn, error.", default: "info"),
        FlagSpec("log.format", help: "Log line format: logfmt or json.", default: "logfmt"),
    ]

    static let levels: [String: Logger.Level] = ["debug": .debug, "info": .info, "warn": .warning, "warning": .warning, "error": .error]

    public init() {}

    init(_ flags: ParsedFlags) throws(UsageError) {
        if let text = flags.string("log.level") {
            guard let level = Self.levels[text] else { throw UsageError("--log.level must be one of debug, info, warn, error") }
            self.level = level
        }
        if let text = flags.string("log.format") {
            guard let format = LogFormat(rawValue: text) else { throw UsageError("--log.format must be logfmt or json") }
            self.format = format
        }
    }

    /// Sends swift-log's output to stderr in the chosen format; returns the exporter's logger.
    public func bootstrap() -> Logger {
        let level = level, format = format
        LoggingSystem.bootstrap { label in ExporterLogHandler(label: label, level: level, format: format) }
        return Logger(label: "infraprobe")
    }
}
