/// A command line that cannot run: an unknown or malformed flag, or a value out of range. The
/// message names the flag; `infraprobe` prints it with the usage line and exits 64 (EX_USAGE).
public struct UsageError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    /// The subcommand whose flags were being read, for the "see --help" hint.
    public var command: String

    public init(_ message: String, command: String = "serve") {
        self.message = message
        self.command = command
    }

    public var description: String { message }
}
