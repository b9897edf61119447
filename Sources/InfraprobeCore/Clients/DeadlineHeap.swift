/// A binary min-heap of deadlines with what to look at when each passes, so an event loop
/// finds the next deadline and the passed ones in O(log n) instead of scanning every
/// connection on every wakeup. Entries are not removed when their work finishes early: the
/// owner ignores one that has nothing left to expire.
struct DeadlineHeap<Element> {
    private var entries: [(deadline: ContinuousClock.Instant, element: Element)] = []

    var isEmpty: Bool { entries.isEmpty }
    var count: Int { entries.count }
    var earliest: ContinuousClock.Instant? { entries.first?.deadline }

    mutating func insert(_ element: Element, at deadline: ContinuousClock.Instant) {
        entries.append((deadline, element))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].deadline < entries[parent].deadline else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the element of the earliest deadline if that deadline is at or before `now`.
    mutating func popPassed(now: ContinuousClock.Instant) -> Element? {
        guard let first = entries.first, first.deadline <= now else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < entries.count && entries[left].deadline < entries[smallest].deadline { smallest = left }
                if right < entries.count && entries[right].deadline < entries[smallest].deadline { smallest = right }
                if smallest == parent { break }
                entries.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return first.element
    }
}
