import Foundation

/// The runtime's Redis pools, one per address and login, handed out to named and module
/// targets alike. Bounded: at most `capacity` pools (the least recently used go first), and
/// a pool unused for `idleTimeout` is dropped, so thousands of discovered addresses neither
/// pile up connections nor reconnect on every component. Config loading builds none of this.
public final class RedisPools: Sendable {
    private struct Key: Hashable {
        let address: RedisAddress
        let username: String?
        let password: String?
        let database: Int
    }

    private struct Entry {
        let pool: RedisPool
        var lastUsed: ContinuousClock.Instant
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var lastSweep = ContinuousClock.now
    }

    public let capacity: Int
    public let idleTimeout: Duration
    let loop: RedisEventLoop
    let resolver: BlockingExecutor
    private let state = Locked(State())

    /// A pool keeps one connection at steady state: half the descriptors go to pools, the other
    /// half stays for scrapes, HTTP probes and `service_running`'s fresh connections. A fixed
    /// cap below the target count would make every probe of a large fleet reconnect.
    public static func capacity(forOpenFileLimit limit: UInt64) -> Int {
        Int(clamping: min(max(limit / 2, 64), 1 << 20))
    }

    public init(capacity: Int? = nil, idleTimeout: Duration? = nil, loop: RedisEventLoop = .shared, resolver: BlockingExecutor = .shared) {
        let capacity = capacity ?? Self.capacity(forOpenFileLimit: OpenFileLimit.current)
        precondition(capacity > 0)
        self.capacity = capacity
        self.idleTimeout = idleTimeout ?? loop.idleTimeout
        self.loop = loop
        self.resolver = resolver
    }

    public func pool(for address: RedisAddress, login: RedisLogin) -> RedisPool {
        let key = Key(address: address, username: login.username, password: login.password?.value, database: login.database)
        let now = ContinuousClock.now
        let (pool, dropped) = state.withLock { state -> (RedisPool, [RedisPool]) in
            var dropped: [RedisPool] = []
            if now - state.lastSweep >= .seconds(1) {
                state.lastSweep = now
                for (key, entry) in state.entries where now - entry.lastUsed >= idleTimeout {
                    dropped.append(entry.pool)
                    state.entries[key] = nil
                }
            }
            if let entry = state.entries[key] {
                state.entries[key]?.lastUsed = now
                return (entry.pool, dropped)
            }
            if state.entries.count >= capacity {
                // The oldest sixteenth at once: one sort per many insertions, not a scan per insertion.
                let evicted = state.entries.sorted { $0.value.lastUsed < $1.value.lastUsed }.prefix(max(1, capacity / 16))
                for (key, entry) in evicted {
                    dropped.append(entry.pool)
                    state.entries[key] = nil
                }
            }
            let pool = RedisPool(address: address, login: login, loop: loop, resolver: resolver)
            state.entries[key] = Entry(pool: pool, lastUsed: now)
            return (pool, dropped)
        }
        dropped.forEach { $0.drain() }
        return pool
    }

    /// Pools currently kept.
    public var count: Int { state.withLock { $0.entries.count } }

    public func drainAll() {
        let pools = state.withLock { state -> [RedisPool] in
            defer { state.entries = [:] }
            return state.entries.values.map(\.pool)
        }
        pools.forEach { $0.drain() }
    }
}
