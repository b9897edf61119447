import Foundation

/// Credentials and database a Redis connection is set up with.
public struct RedisLogin: Sendable {
    public let username: String?
    public let password: Secret?
    public let database: Int

    public init(username: String? = nil, password: Secret? = nil, database: Int = 0) {
        self.username = username
        self.password = password
        self.database = database
    }

    /// The commands a fresh connection runs first, and how each is shown in a step log.
    var setupCommands: [(command: [String], shown: String)] {
        var commands: [([String], String)] = []
        if let password {
            if let username {
                commands.append((["AUTH", username, password.value], "AUTH \(username) \(Secret.placeholder)"))
            } else {
                commands.append((["AUTH", password.value], "AUTH \(Secret.placeholder)"))
            }
        }
        if database != 0 { commands.append((["SELECT", String(database)], "SELECT \(database)")) }
        return commands
    }
}

/// Keeps authenticated connections to one Redis server between probes, so a scrape pays
/// for round trips, not for TCP and AUTH setup. A leased connection belongs to one thread.
public final class RedisConnectionPool: Sendable {
    public let address: RedisAddress
    let login: RedisLogin
    private let idle = Locked<[RedisConnection]>([])
    private let maxIdle: Int

    public init(address: RedisAddress, login: RedisLogin, maxIdle: Int = 16) {
        self.address = address
        self.login = login
        self.maxIdle = maxIdle
    }

    /// A pooled connection if one is idle, else a new one (connected and authenticated).
    func lease() -> RedisConnection? {
        idle.withLock { $0.popLast() }
    }

    func connect(timeout: Duration) throws -> RedisConnection {
        try RedisConnection.connect(to: address, timeout: timeout)
    }

    func giveBack(_ connection: RedisConnection) {
        guard connection.isOpen else { return }
        let kept = idle.withLock { pool -> Bool in
            guard pool.count < maxIdle else { return false }
            pool.append(connection)
            return true
        }
        if !kept { connection.close() }
    }

    public func drain() {
        let connections = idle.withLock { pool -> [RedisConnection] in
            defer { pool.removeAll() }
            return pool
        }
        connections.forEach { $0.close() }
    }
}
