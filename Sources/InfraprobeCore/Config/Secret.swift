/// A password or token. Its description is always `<secret>`, so it cannot leak through
/// string interpolation into logs, metrics, debug output or errors.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String

    public init(_ value: String) { self.value = value }

    public var description: String { "<secret>" }
    public var debugDescription: String { "<secret>" }

    public static let placeholder = "<secret>"
}
