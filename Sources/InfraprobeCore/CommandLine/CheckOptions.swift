/// What `infraprobe check` was asked to do.
public struct CheckOptions: Sendable, Equatable {
    public enum Format: String, Sendable { case text, json }

    public var configFile = "infraprobe.yml"
    public var targets: [String] = []
    public var format = Format.text
    /// Seconds to wait, after the probes, for removals they could not finish in time.
    public var cleanupWait = 10.0
    public var logging = LogOptions()

    public static let abstract = "Probe the configured targets once and print a report (exit 0 all passed, 1 some failed, 2 config error)."

    static let flags = [
        FlagSpec("config.file", help: "Configuration file.", default: "infraprobe.yml"),
        FlagSpec("target", .repeated, help: "Only this target (repeatable)."),
        FlagSpec("format", help: "Report format: text or json.", default: "text"),
        FlagSpec("cleanup.wait", help: "Seconds to wait, after the probes, for removals they could not finish in time.", default: "10.0"),
    ] + LogOptions.flags

    public init() {}

    init(_ flags: ParsedFlags) throws(UsageError) {
        configFile = flags.string("config.file", default: configFile)
        targets = flags.strings("target")
        if let text = flags.string("format") {
            guard let format = Format(rawValue: text) else { throw UsageError("--format must be text or json") }
            self.format = format
        }
        cleanupWait = try flags.seconds("cleanup.wait", default: cleanupWait, in: 0...300)
        logging = try LogOptions(flags)
    }
}
