@testable import InfraprobeCore
import Testing

struct OldestFirstTests {
    @Test func test_oldestFirst_dropsTheLeastRecentlyStoredKey_notTheFirstEverStored() {
        var order = OldestFirst()
        order.stored("a")
        order.stored("b")
        order.stored("c")
        order.stored("a")  // stored again: now the newest
        #expect(order.removeOldest() == "b")
        #expect(order.removeOldest() == "c")
        #expect(order.removeOldest() == "a")
        #expect(order.removeOldest() == nil)
        #expect(order.count == 0)
    }

    @Test func test_oldestFirst_skipsRemovedAndFilteredKeys() {
        var order = OldestFirst()
        for key in ["a", "b", "c", "d"] { order.stored(key) }
        order.removed("a")
        order.retain { $0 != "b" }
        #expect(order.count == 2)
        #expect(order.removeOldest() == "c")
        #expect(order.removeOldest() == "d")
        #expect(order.removeOldest() == nil)
    }

    /// The same few keys stored 20,000 times keep the order at a few thousand entries, not 20,000,
    /// and a bounded dictionary evicting through it stays exactly at its bound.
    @Test func test_oldestFirst_staysSmall_andEvictsInStoreOrder_overManyStores() {
        var order = OldestFirst()
        var kept: [String: Int] = [:]
        for round in 0..<20_000 {
            let key = "k\(round % 1_500)"
            kept[key] = round
            order.stored(key)
            if kept.count > 1_000, let oldest = order.removeOldest() { kept[oldest] = nil }
        }
        #expect(kept.count == 1_000)
        #expect(order.count == 1_000)
        // The thousand kept are the last thousand stored.
        #expect(kept.values.min() == 20_000 - 1_000)
    }
}
