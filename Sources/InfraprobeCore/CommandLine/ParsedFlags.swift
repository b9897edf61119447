/// The values a command line gave, by flag name, with typed readers that reject what does not
/// convert (or is out of range for the type) with a `UsageError` naming the flag.
public struct ParsedFlags: Sendable, Equatable {
    var values: [String: [String]] = [:]

    public func strings(_ name: String) -> [String] { values[name] ?? [] }

    public func string(_ name: String) -> String? { values[name]?.last }

    public func string(_ name: String, default fallback: String) -> String { string(name) ?? fallback }

    public func bool(_ name: String) -> Bool { string(name) == "true" }

    public func int(_ name: String, default fallback: Int) throws(UsageError) -> Int {
        guard let text = string(name) else { return fallback }
        guard let value = Int(text) else { throw UsageError("--\(name): \"\(Self.shown(text))\" is not an integer") }
        return value
    }

    public func double(_ name: String, default fallback: Double) throws(UsageError) -> Double {
        guard let text = string(name) else { return fallback }
        guard let value = Double(text), value.isFinite else { throw UsageError("--\(name): \"\(Self.shown(text))\" is not a number") }
        return value
    }

    /// An integer within `range`, else a `UsageError` naming the flag and the range.
    public func int(_ name: String, default fallback: Int, in range: ClosedRange<Int>) throws(UsageError) -> Int {
        let value = try int(name, default: fallback)
        guard range.contains(value) else { throw UsageError("--\(name) must be between \(range.lowerBound) and \(range.upperBound)") }
        return value
    }

    /// A number of seconds within `range`, checked before anything converts it (a `Duration`
    /// traps past Int64).
    public func seconds(_ name: String, default fallback: Double, in range: ClosedRange<Double>) throws(UsageError) -> Double {
        let value = try double(name, default: fallback)
        guard range.contains(value) else {
            throw UsageError("--\(name) must be between \(Self.plain(range.lowerBound)) and \(Self.plain(range.upperBound)) seconds")
        }
        return value
    }

    /// `0`, `0.5`, `300`: as a user writes it in a flag.
    private static func plain(_ value: Double) -> String { value.rounded() == value ? String(Int(value)) : String(value) }

    /// An argument quoted back in an error: bounded, and without control characters that could
    /// rewrite the terminal or the log it lands in.
    static func shown(_ text: String) -> String {
        let clean = String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
        return clean.count > 80 ? String(clean.prefix(80)) + "…" : clean
    }
}
