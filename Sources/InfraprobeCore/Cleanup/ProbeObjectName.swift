import FoundationEssentials
import Glibc

/// A name a prober gave an object, read back: `<prefix><sep><instance…><sep><nonce><sep><rest>`,
/// e.g. ArangoDB's `infraprobe_host_42_<nonce>_collection_operations`. A sweeper touches an
/// object only when its name parses (the prefix, at least one instance piece, a nonce whose
/// time is plausible, and something after it) and its age is over the sweep's minimum: never
/// by prefix alone.
public struct ProbeObjectName: Sendable, Equatable {
    public let name: String
    /// The exporter instance as it appears in the name (separators kept).
    public let instance: String
    public let nonce: ProbeNonce
    /// What follows the nonce (the component, maybe with a suffix such as `_v`).
    public let rest: String

    public static func parse(_ name: String, prefix: String, separator: Character, now: Date = Date()) -> ProbeObjectName? {
        // Bounded: a service could list absurdly long names.
        guard name.utf8.count <= 512, name.hasPrefix(prefix + String(separator)) else { return nil }
        let pieces = name.dropFirst(prefix.count + 1).split(separator: separator, omittingEmptySubsequences: false)
        // The last piece that is a nonce: the instance comes before it and may itself contain
        // separators (a host name) or even nonce-like pieces; the component words never are.
        guard pieces.count >= 3 else { return nil }
        for index in stride(from: pieces.count - 2, through: 1, by: -1) {
            guard let nonce = ProbeNonce.parse(pieces[index], now: now) else { continue }
            guard !pieces[0].isEmpty, !pieces[(index + 1)...].contains(where: \.isEmpty) else { return nil }
            return ProbeObjectName(name: name, instance: pieces[..<index].joined(separator: String(separator)), nonce: nonce,
                                   rest: pieces[(index + 1)...].joined(separator: String(separator)))
        }
        return nil
    }

    public func age(now: Date = Date()) -> Duration { nonce.age(now: now) }
}
