/// What one run of `infraprobe` was asked to do, read from its arguments:
/// `infraprobe [serve] [flags]`, `infraprobe check [flags]`, `infraprobe help [serve|check]`,
/// `--help`/`-h` and `--version` anywhere.
public enum Invocation: Sendable {
    case serve(ServeOptions)
    case check(CheckOptions)
    /// Text for stdout, exit 0.
    case help(String)
    case version

    public static let overview = "Prometheus exporter that functionally tests infrastructure services on every scrape."

    public static var versionText: String {
        "infraprobe \(BuildInfo.version) (revision \(BuildInfo.revision), Swift \(BuildInfo.swiftVersion))"
    }

    /// `arguments` without the program name.
    public static func parse(_ arguments: [String]) throws(UsageError) -> Invocation {
        var rest = arguments[...]
        switch rest.first {
        case "check":
            rest.removeFirst()
            switch try FlagParser.parse(rest, flags: CheckOptions.flags, command: "check") {
            case .help: return .help(checkHelp)
            case .version: return .version
            case .flags(let flags): return .check(try withCommand("check") { () throws(UsageError) in try CheckOptions(flags) })
            }
        case "help":
            rest.removeFirst()
            switch rest.first {
            case nil: return .help(rootHelp)
            case "serve": return .help(serveHelp)
            case "check": return .help(checkHelp)
            case let other?: throw UsageError("no subcommand \"\(ParsedFlags.shown(other))\"; there are serve and check")
            }
        case "serve":
            rest.removeFirst()
            return try serve(rest, help: serveHelp)
        default:
            return try serve(rest, help: rootHelp)
        }
    }

    private static func serve(_ arguments: ArraySlice<String>, help: String) throws(UsageError) -> Invocation {
        switch try FlagParser.parse(arguments, flags: ServeOptions.flags, command: "serve") {
        case .help: return .help(help)
        case .version: return .version
        case .flags(let flags): return .serve(try ServeOptions(flags))
        }
    }

    private static func withCommand<T>(_ command: String, _ body: () throws(UsageError) -> T) throws(UsageError) -> T {
        do { return try body() } catch {
            var error = error
            error.command = command
            throw error
        }
    }

    /// The one-line usage an error is shown with.
    public static func usage(of command: String) -> String {
        command == "check" ? "infraprobe check [<options>]" : "infraprobe [serve] [<options>]"
    }

    static var serveHelp: String {
        HelpText.render(overview: ServeOptions.abstract, usage: "infraprobe serve [<options>]", flags: ServeOptions.flags)
    }

    static var checkHelp: String {
        HelpText.render(overview: CheckOptions.abstract, usage: usage(of: "check"), flags: CheckOptions.flags)
    }

    /// The serve flags (what an operator runs), then the subcommands.
    static var rootHelp: String {
        let subcommands = HelpText.entry("  serve (default)", HelpText.words(ServeOptions.abstract)) + HelpText.entry("  check", HelpText.words(CheckOptions.abstract))
        return HelpText.render(overview: overview, usage: "infraprobe [serve|check] [<options>]", flags: ServeOptions.flags,
                               trailer: "\nSUBCOMMANDS:\n" + subcommands + "\n  See 'infraprobe help <subcommand>' for detailed help.\n")
    }
}
