import FoundationEssentials
import Glibc

/// The shared connection to one Redis server with one login: every component of every
/// probe of that address (named target or module target) sends its pipelines on it, so at
/// steady state a target holds this one connection, plus the fresh one `service_running`
/// opens and closes on each probe. Pipelines are written whole, in order, so a MULTI..EXEC
/// inside one is never interleaved with another component's commands.
public final class RedisPool: Sendable {
    public let address: RedisAddress
    let login: RedisLogin
    let loop: RedisEventLoop
    let resolver: BlockingExecutor
    private let current = Locked<RedisConnection?>(nil)

    init(address: RedisAddress, login: RedisLogin, loop: RedisEventLoop, resolver: BlockingExecutor) {
        self.address = address
        self.login = login
        self.loop = loop
        self.resolver = resolver
    }

    /// The shared connection, held for the caller (release it); `opening` is set when this
    /// call opened it, and then the caller waits for connect and setup. `replacing` is a
    /// connection the caller found dead: a new one is opened instead of it.
    func lease(deadline: Deadline, replacing dead: RedisConnection? = nil) -> (connection: RedisConnection, opening: RedisOpening?) {
        let (leased, replaced) = current.withLock { slot -> ((RedisConnection, RedisOpening?), RedisConnection?) in
            if let connection = slot, connection !== dead, connection.isUsable, ContinuousClock.now - connection.openedAt < loop.maxAge {
                connection.hold()
                return ((connection, nil), nil)
            }
            let old = slot
            let opening = RedisOpening.start(address, login: login, deadline: deadline, resolver: resolver, loop: loop)
            opening.connection.hold()
            slot = opening.connection
            return ((opening.connection, opening), old)
        }
        replaced?.retire()
        return leased
    }

    /// A connection of its own, not shared, for the caller to close: what `service_running`
    /// measures connect and AUTH on.
    func openFresh(deadline: Deadline) -> RedisOpening {
        RedisOpening.start(address, login: login, deadline: deadline, resolver: resolver, loop: loop)
    }

    /// The shared connection has answered everything sent on it so far: the server was
    /// answering a moment ago. Not while it owes replies, so a server that stops answering
    /// makes one probe's worth of pipelines wait on it, not every probe's.
    var sharedConnectionIsAnsweredAndIdle: Bool { current.withLock { $0?.isAnsweredAndIdle ?? false } }

    /// After a failure its state is unknown (half-done setup, hostile bytes): no new work goes on it.
    func retire(_ connection: RedisConnection) {
        current.withLock { slot in if slot === connection { slot = nil } }
        connection.retire()
    }

    public func drain() {
        let connection = current.withLock { slot -> RedisConnection? in defer { slot = nil }; return slot }
        connection?.retire()
    }
}
