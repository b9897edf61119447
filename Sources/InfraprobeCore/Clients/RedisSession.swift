import Foundation

/// A component's conversation with Redis: one leased connection, every command bounded by
/// the probe deadline, logged as a step, and every failure turned into a `ProbeFailure`.
/// Runs on a blocking-executor thread.
final class RedisSession {
    private let pool: RedisConnectionPool
    private let context: ComponentContext
    private var connection: RedisConnection?
    private var reused = false
    private var sentOnThisConnection = 0

    init(pool: RedisConnectionPool, context: ComponentContext) {
        self.pool = pool
        self.context = context
    }

    /// Leases a connection and runs `body`; a pooled connection that turns out to be dead
    /// (server restarted) is replaced once by a fresh one.
    static func with<T>(pool: RedisConnectionPool, context: ComponentContext, _ body: (RedisSession) throws -> T) throws -> T {
        let session = RedisSession(pool: pool, context: context)
        do {
            let value: T
            do {
                try session.open(allowPooled: true)
                value = try body(session)
            } catch let failure as StaleConnection {
                context.step("pooled connection was dead (\(failure.message)); reconnecting")
                try session.open(allowPooled: false)
                value = try body(session)
            }
            session.release()
            return value
        } catch {
            // After a failure the connection's state is unknown (half-done setup, open transaction): never pool it.
            session.discard()
            throw error
        }
    }

    private struct StaleConnection: Error { let message: String }

    private func open(allowPooled: Bool) throws {
        if allowPooled, let pooled = pool.lease() {
            connection = pooled
            reused = true
            sentOnThisConnection = 0
            return
        }
        reused = false
        sentOnThisConnection = 0
        let started = ContinuousClock.now
        do {
            connection = try pool.connect(timeout: context.deadline.remaining)
        } catch let error as RedisClientError {
            context.step("connect \(pool.address) failed: \(error.message)")
            throw Self.failure(for: error, address: pool.address)
        }
        context.step("connected to \(pool.address) in \(ComponentRunner.formatSeconds(ContinuousClock.now - started))")
        for setup in pool.login.setupCommands {
            let reply = try send(setup.command, shown: setup.shown)
            if case .error(let message) = reply { throw RedisReplyClassifier.failure(for: message, command: setup.command[0]) }
        }
    }

    private func discard() {
        connection?.close()
        connection = nil
    }

    private func release() {
        guard let connection else { return }
        self.connection = nil
        pool.giveBack(connection)
    }

    /// Sends a command; an error reply becomes a `ProbeFailure` classified by its code.
    @discardableResult
    func call(_ arguments: [String]) throws -> RedisValue {
        let reply = try send(arguments, shown: arguments.joined(separator: " "))
        if case .error(let message) = reply { throw RedisReplyClassifier.failure(for: message, command: arguments[0]) }
        return reply
    }

    /// Sends commands in one round trip and returns their replies; error replies become failures.
    func pipeline(_ commands: [[String]]) throws -> [RedisValue] {
        guard let connection else { throw ProbeFailure(.protocol, "no connection") }
        let shown = commands.map { $0.joined(separator: " ") }.joined(separator: " | ")
        let started = ContinuousClock.now
        let replies: [RedisValue]
        do {
            replies = try connection.pipeline(commands, timeout: context.deadline.remaining)
        } catch let error as RedisClientError {
            throw transportFailure(error, shown: shown)
        }
        sentOnThisConnection += 1
        context.step(.redis(RedisExchangeStep(sent: commands, shown: shown, replies: replies, elapsed: ContinuousClock.now - started)))
        for (index, reply) in replies.enumerated() {
            if case .error(let message) = reply { throw RedisReplyClassifier.failure(for: message, command: commands[index][0]) }
        }
        return replies
    }

    private func send(_ arguments: [String], shown: String) throws -> RedisValue {
        guard let connection else { throw ProbeFailure(.protocol, "no connection") }
        let started = ContinuousClock.now
        do {
            let reply = try connection.command(arguments, timeout: context.deadline.remaining)
            sentOnThisConnection += 1
            context.step(.redis(RedisExchangeStep(sent: [arguments], shown: shown, replies: [reply], elapsed: ContinuousClock.now - started)))
            return reply
        } catch let error as RedisClientError {
            throw transportFailure(error, shown: shown)
        }
    }

    private func transportFailure(_ error: RedisClientError, shown: String) -> Error {
        context.step("\(shown) → transport error: \(error.message)")
        if reused && sentOnThisConnection == 0 && error.kind != .timeout {
            return StaleConnection(message: error.message)
        }
        return Self.failure(for: error, address: pool.address)
    }

    static func failure(for error: RedisClientError, address: RedisAddress) -> ProbeFailure {
        switch error.kind {
        case .refused: return ProbeFailure(.connectionRefused, "\(address): \(error.message)")
        case .dns: return ProbeFailure(.dns, "\(address): \(error.message)")
        case .timeout: return ProbeFailure(.timeout, "\(address): no answer before the deadline (\(error.message))")
        case .closed: return ProbeFailure(.protocol, "\(address): server closed the connection")
        case .io, .protocol: return ProbeFailure(.protocol, "\(address): \(error.message)")
        }
    }
}

/// Maps Redis error replies to failure reasons by their error code (the first word).
enum RedisReplyClassifier {
    static func failure(for message: String, command: String) -> ProbeFailure {
        let code = message.split(separator: " ", maxSplits: 1).first.map(String.init) ?? ""
        let text = "\(command.uppercased()): \(message)"
        switch code {
        case "NOAUTH", "WRONGPASS", "NOPERM":
            return ProbeFailure(.auth, text)
        case "LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN":
            return ProbeFailure(.notReady, text)
        case "OOM", "MISCONF":
            return ProbeFailure(.resourceExhausted, text)
        case "ERR" where message.contains("invalid password") || message.contains("AUTH"):
            return ProbeFailure(.auth, text)
        case "ERR" where message.contains("unknown command"):
            return ProbeFailure(.protocol, "\(text) (server too old for this check?)")
        default:
            return ProbeFailure(.unexpectedResponse, text)
        }
    }
}
