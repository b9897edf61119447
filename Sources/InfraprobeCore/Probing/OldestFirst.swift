/// The keys of a bounded dictionary in the order they were last stored, so the oldest can be
/// dropped in amortized constant time. Finding it with `min(by:)` walked (and copied) every
/// entry on every store: at 10,000 module targets, a thousand probe records per probe.
struct OldestFirst: Sendable {
    /// Every store, oldest first from `head`; an entry whose stamp is no longer its key's is stale.
    private var entries: [(key: String, stamp: Int)] = []
    private var head = 0
    private var stamps: [String: Int] = [:]
    private var nextStamp = 0

    var count: Int { stamps.count }

    /// `key` was stored (again): it is now the newest.
    mutating func stored(_ key: String) {
        nextStamp += 1
        stamps[key] = nextStamp
        entries.append((key, nextStamp))
        // Stale entries (keys stored again or removed) are at most twice the live ones.
        if entries.count - head > 2 * stamps.count + 64 {
            entries = entries[head...].filter { stamps[$0.key] == $0.stamp }
            head = 0
        }
    }

    mutating func removed(_ key: String) { stamps[key] = nil }

    /// Keeps only the keys `keep` accepts.
    mutating func retain(where keep: (String) -> Bool) { stamps = stamps.filter { keep($0.key) } }

    /// The oldest key, no longer in the order; nil when it is empty.
    mutating func removeOldest() -> String? {
        while head < entries.count {
            let entry = entries[head]
            head += 1
            if head >= 1024 && head * 2 >= entries.count {
                entries.removeFirst(head)
                head = 0
            }
            if stamps[entry.key] == entry.stamp {
                stamps[entry.key] = nil
                return entry.key
            }
        }
        return nil
    }
}
