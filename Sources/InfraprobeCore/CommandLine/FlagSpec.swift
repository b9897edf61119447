/// One command-line flag as a user types it: `--name value`, `--name=value`, or `--name` alone
/// for a switch. Plain data, so help and parsing come from the same list.
public struct FlagSpec: Sendable {
    public enum Kind: Sendable {
        /// Takes one value; given twice, the last wins (as with kingpin and ArgumentParser).
        case value
        /// Takes one value each time it is given, kept in order.
        case repeated
        /// Takes no value: `--name` sets it, `--no-name` clears it.
        case boolean
    }

    public let name: String
    public let kind: Kind
    public let help: String
    /// Shown as `(default: …)` in help.
    public let defaultText: String?

    public init(_ name: String, _ kind: Kind = .value, help: String, default defaultText: String? = nil) {
        self.name = name
        self.kind = kind
        self.help = help
        self.defaultText = defaultText
    }
}
