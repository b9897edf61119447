import FoundationEssentials
import Glibc

/// A connection being opened and set up (AUTH, SELECT): the setup pipeline is queued before
/// anything else can be, so every pipeline sent on the connection runs logged in.
struct RedisOpening: Sendable {
    let connection: RedisConnection
    let started: ContinuousClock.Instant
    let connected: RedisReplyFuture
    let setupCommands: [[String]]
    let setupShown: String
    let setup: RedisReplyFuture?

    static func start(_ address: RedisAddress, login: RedisLogin, deadline: Deadline,
                      resolver: BlockingExecutor, loop: RedisEventLoop) -> RedisOpening {
        let started = ContinuousClock.now
        let connection = RedisConnection.open(to: address, deadline: deadline, resolver: resolver, loop: loop)
        let connected = connection.connected(before: deadline)
        let (commands, shown) = login.setupCommands
        let setup = commands.isEmpty ? nil : connection.send(commands, before: deadline)
        return RedisOpening(connection: connection, started: started, connected: connected,
                            setupCommands: commands, setupShown: shown, setup: setup)
    }
}
