import FoundationEssentials
import Glibc

/// The token that makes one probe's objects unique, and proves their age: 7 base36 digits of
/// the creation time (unix seconds, zero-padded, enough until the year 4453) and 6 random
/// base36 digits. Lowercase letters and digits only, so it fits every service's name rules
/// (ArangoDB database names, Consul KV keys and IDs, Redis keys).
public struct ProbeNonce: Sendable, Equatable, CustomStringConvertible {
    static let timeDigits = 7
    static let randomDigits = 6
    public static let length = timeDigits + randomDigits

    /// Unix seconds when the probe started.
    public let createdUnix: Int
    public let text: String

    public var description: String { text }

    public static func make(now: Date = Date()) -> ProbeNonce {
        let seconds = max(0, Int(now.timeIntervalSince1970))
        let time = String(seconds, radix: 36)
        let random = String(Int.random(in: 0..<Self.randomSpace), radix: 36)
        let text = String(repeating: "0", count: max(0, timeDigits - time.count)) + time
            + String(repeating: "0", count: randomDigits - random.count) + random
        return ProbeNonce(createdUnix: seconds, text: text)
    }

    /// 36^6: the random part's range.
    static let randomSpace = 2_176_782_336

    /// The nonce a piece of a name is, or nil: exactly 13 lowercase base36 digits whose time
    /// lies between 2020-01-01 and a day from `now` (a look-alike from the future is not ours).
    public static func parse(_ text: Substring, now: Date = Date()) -> ProbeNonce? {
        guard text.utf8.count == length,
              text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) }),
              let seconds = Int(text.prefix(timeDigits), radix: 36),
              seconds >= earliestUnix, Double(seconds) <= now.timeIntervalSince1970 + 86_400 else { return nil }
        return ProbeNonce(createdUnix: seconds, text: String(text))
    }

    /// 2020-01-01T00:00:00Z: no infraprobe object is older.
    static let earliestUnix = 1_577_836_800

    /// How long ago the probe started (zero for a time slightly ahead of this clock).
    public func age(now: Date = Date()) -> Duration {
        .seconds(max(0, Int(now.timeIntervalSince1970) - createdUnix))
    }
}
