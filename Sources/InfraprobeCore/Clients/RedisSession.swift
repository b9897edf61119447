import FoundationEssentials
import Glibc

/// A component's conversation with Redis: the pool's shared connection (or, for
/// `service_running`, a fresh one), every pipeline bounded by the probe deadline, logged as a
/// step, and every failure turned into a `ProbeFailure`. Used by one task at a time.
final class RedisSession {
    private let pool: RedisPool
    private let context: ComponentContext
    private let fresh: Bool
    /// Sent on a fresh connection right behind its setup, before the connect completes, so
    /// the component's first pipeline costs no round trip of its own after logging in.
    private let firstPipeline: [[String]]?
    private var queuedFirst: (commands: [[String]], reply: RedisReplyFuture)?
    private var connection: RedisConnection?
    private var reused = false
    private var sentOnThisConnection = 0
    /// The address's shared connection has answered all it was sent (see `RedisPool`).
    var sharedConnectionIsAnsweredAndIdle: Bool { pool.sharedConnectionIsAnsweredAndIdle }
    /// Set when this session opened its connection: how long TCP (or unix) connect and the setup pipeline took.
    private(set) var connectTime: Duration?
    private(set) var setupTime: Duration?

    private init(pool: RedisPool, context: ComponentContext, fresh: Bool, firstPipeline: [[String]]?) {
        self.pool = pool
        self.context = context
        self.fresh = fresh
        self.firstPipeline = firstPipeline
    }

    /// Runs `body` on the pool's shared connection, or on a connection of its own when
    /// `fresh`; a pooled connection that turns out to be dead (server restarted) is replaced
    /// once by a new one. A fresh connection sends `firstPipeline` behind its setup at once;
    /// `pipeline` with the same commands then just waits for those replies.
    static func with<T>(pool: RedisPool, context: ComponentContext, fresh: Bool = false, firstPipeline: [[String]]? = nil,
                        _ body: (RedisSession) async throws -> T) async throws -> T {
        let session = RedisSession(pool: pool, context: context, fresh: fresh, firstPipeline: fresh ? firstPipeline : nil)
        do {
            let value: T
            do {
                try await session.open()
                value = try await body(session)
            } catch let failure as StaleConnection {
                context.step("pooled connection was dead (\(failure.message)); reconnecting")
                try await session.open(replacing: session.connection)
                value = try await body(session)
            }
            session.finish(failed: false)
            return value
        } catch {
            session.finish(failed: true)
            throw error
        }
    }

    private struct StaleConnection: Error { let message: String }

    private func open(replacing dead: RedisConnection? = nil) async throws {
        let opening: RedisOpening?
        if let dead { letGo(dead, failed: true) }
        if fresh {
            let started = pool.openFresh(deadline: context.deadline)
            connection = started.connection
            opening = started
            if let firstPipeline {
                queuedFirst = (firstPipeline, started.connection.send(firstPipeline, before: context.deadline))
            }
        } else {
            let lease = pool.lease(deadline: context.deadline, replacing: dead)
            connection = lease.connection
            opening = lease.opening
        }
        reused = opening == nil && connection?.hasAnswered == true
        sentOnThisConnection = 0
        guard let opening else { return }
        do {
            _ = try await opening.connected.value()
        } catch {
            context.step("connect \(pool.address) failed: \(error.message)")
            throw Self.failure(for: error, address: pool.address, command: "connect")
        }
        let connected = ContinuousClock.now
        connectTime = connected - opening.started
        context.step(.connected(pool.address, connected - opening.started))
        guard let setup = opening.setup else { return }
        let replies = try await wait(for: setup, commands: opening.setupCommands, shown: opening.setupShown, started: connected)
        setupTime = ContinuousClock.now - connected
        try Self.throwFirstError(in: replies, of: opening.setupCommands)
    }

    private func finish(failed: Bool) {
        guard let connection else { return }
        self.connection = nil
        letGo(connection, failed: failed)
    }

    private func letGo(_ connection: RedisConnection, failed: Bool) {
        if fresh {
            connection.close()
            return
        }
        // After a failure the connection's state is unknown (hostile bytes, half-done setup): others must not get it.
        if failed { pool.retire(connection) }
        connection.release()
    }

    /// Sends a command; an error reply becomes a `ProbeFailure` classified by its code.
    @discardableResult
    func call(_ arguments: [String]) async throws -> RedisValue {
        try await pipeline([arguments])[0]
    }

    /// Sends commands in one write and returns their replies; error replies become failures.
    func pipeline(_ commands: [[String]]) async throws -> [RedisValue] {
        let replies = try await pipelineReplies(commands)
        try Self.throwFirstError(in: replies, of: commands)
        return replies
    }

    /// The first error reply as a `ProbeFailure` classified by its code.
    static func throwFirstError(in replies: [RedisValue], of commands: [[String]]) throws {
        for (index, reply) in replies.enumerated() {
            if case .error(let message) = reply { throw RedisReplyClassifier.failure(for: message, command: commands[index][0]) }
        }
    }

    /// Sends commands in one write and returns their replies, error replies among them.
    func pipelineReplies(_ commands: [[String]]) async throws -> [RedisValue] {
        guard let connection else { throw ProbeFailure(.protocol, "no connection") }
        let reply: RedisReplyFuture
        if let queued = queuedFirst, sentOnThisConnection == 0, queued.commands == commands {
            reply = queued.reply
        } else {
            reply = connection.send(commands, before: context.deadline)
        }
        queuedFirst = nil
        let replies = try await wait(for: reply, commands: commands, shown: nil, started: .now)
        sentOnThisConnection += 1
        return replies
    }

    /// `shown`: the command line to log instead of the commands (they carry a secret).
    private func wait(for future: RedisReplyFuture, commands: [[String]], shown: String?, started: ContinuousClock.Instant) async throws -> [RedisValue] {
        let replies: [RedisValue]
        do {
            replies = try await future.value()
        } catch {
            throw transportFailure(await explained(error), shown: shown ?? RedisExchangeStep.commandLine(commands), command: commands.first?.first ?? "")
        }
        context.step(.redis(RedisExchangeStep(sent: commands, shown: shown, replies: replies, elapsed: ContinuousClock.now - started)))
        return replies
    }

    /// A new connection reset or closed before its first reply may be Redis refusing the
    /// client (maxclients): it writes why and closes, and the reset our unread commands cause
    /// can discard that message. Listening, without sending, on one more connection hears it.
    private func explained(_ error: RedisClientError) async -> RedisClientError {
        guard fresh, sentOnThisConnection == 0, error.serverError == nil, error.kind == .io || error.kind == .closed else { return error }
        let listenDeadline = min(context.deadline, Deadline.after(.milliseconds(250)))
        let listener = RedisConnection.open(to: pool.address, deadline: listenDeadline, resolver: pool.resolver, loop: pool.loop)
        defer { listener.close() }
        guard case .error(let message)? = try? await listener.unpromptedReply(before: listenDeadline).value().first else { return error }
        context.step("a connection that sends nothing is told: \(message)")
        return RedisClientError(error.kind, error.message, serverError: message)
    }

    private func transportFailure(_ error: RedisClientError, shown: String, command: String) -> Error {
        context.step("\(shown) → transport error: \(error.message)\(error.serverError.map { " after \"\($0)\"" } ?? "")")
        if reused && sentOnThisConnection == 0 && error.kind != .timeout && error.serverError == nil {
            return StaleConnection(message: error.message)
        }
        return Self.failure(for: error, address: pool.address, command: command)
    }

    static func failure(for error: RedisClientError, address: RedisAddress, command: String = "connect") -> ProbeFailure {
        if let serverError = error.serverError { return RedisReplyClassifier.failure(for: serverError, command: command) }
        switch error.kind {
        case .refused: return ProbeFailure(.connectionRefused, "\(address): \(error.message)")
        case .dns: return ProbeFailure(.dns, "\(address): \(error.message)")
        case .timeout: return ProbeFailure(.timeout, "\(address): no answer before the deadline (\(error.message))")
        case .closed: return ProbeFailure(.protocol, "\(address): server closed the connection")
        case .resourceExhausted: return ProbeFailure(.resourceExhausted, "\(address): \(error.message)")
        case .io, .protocol: return ProbeFailure(.protocol, "\(address): \(error.message)")
        }
    }
}
