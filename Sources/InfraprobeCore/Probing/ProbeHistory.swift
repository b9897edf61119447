/// The last probes, oldest first, bounded in count and in estimated bytes (oldest out first; the
/// newest is always kept). A ring: keeping a probe does not shift the hundred before it, which
/// `Array.removeFirst` did on every probe once the history was full.
struct ProbeHistory: Sendable {
    let countLimit: Int
    let byteLimit: Int
    private var slots: [(record: ProbeRecord, bytes: Int)?]
    /// Slot of the oldest record.
    private var head = 0
    private(set) var count = 0
    /// The sum of the kept records' `estimatedBytes`.
    private(set) var bytes = 0

    init(countLimit: Int, byteLimit: Int) {
        self.countLimit = countLimit
        self.byteLimit = byteLimit
        slots = []
    }

    mutating func append(_ record: ProbeRecord, bytes recordBytes: Int) {
        guard countLimit > 0 else { return }
        if count == countLimit { dropOldest() }
        if count == slots.count {
            // Full at its current size, which is below the limit: grow, oldest at slot 0.
            if head != 0 {
                slots = Array(slots[head...] + slots[..<head])
                head = 0
            }
            slots.append((record, recordBytes))
        } else {
            slots[(head + count) % slots.count] = (record, recordBytes)
        }
        count += 1
        bytes += recordBytes
        while bytes > byteLimit && count > 1 { dropOldest() }
    }

    private mutating func dropOldest() {
        bytes -= slots[head]?.bytes ?? 0
        slots[head] = nil
        head = (head + 1) % slots.count
        count -= 1
        if count == 0 { head = 0 }
    }

    /// Oldest first.
    var records: [ProbeRecord] {
        (0..<count).compactMap { slots[(head + $0) % slots.count]?.record }
    }

    func record(id: Int) -> ProbeRecord? {
        for offset in 0..<count {
            if let slot = slots[(head + offset) % slots.count], slot.record.id == id { return slot.record }
        }
        return nil
    }
}
