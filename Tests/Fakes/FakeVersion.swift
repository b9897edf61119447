import Foundation

/// The release a fake pretends to be (`1.21.5`, `0.149.0`), compared numerically, so a fake
/// can switch behaviour where real releases differ.
public struct FakeVersion: Sendable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let parts: [Int]

    public init(_ text: String) {
        parts = text.split(separator: ".").map { Int($0.prefix { $0.isNumber }) ?? 0 }
    }

    public init(stringLiteral value: String) { self.init(value) }

    public var description: String { parts.map(String.init).joined(separator: ".") }

    public static func < (lhs: FakeVersion, rhs: FakeVersion) -> Bool {
        for index in 0..<max(lhs.parts.count, rhs.parts.count) {
            let left = index < lhs.parts.count ? lhs.parts[index] : 0
            let right = index < rhs.parts.count ? rhs.parts[index] : 0
            if left != right { return left < right }
        }
        return false
    }

    public static func == (lhs: FakeVersion, rhs: FakeVersion) -> Bool { !(lhs < rhs) && !(rhs < lhs) }
}
