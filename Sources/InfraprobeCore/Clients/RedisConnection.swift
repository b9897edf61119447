import FoundationEssentials
import Glibc

/// One Redis connection driven by a `RedisEventLoop`: pipelines from any number of
/// components are written in the order they are handed in, whole (those queued in one turn
/// of the loop share one write), and RESP answers in order, so each pipeline's replies are the next `count` replies. Replies are
/// parsed by a bounded `RedisReplyReader`. A pipeline past its deadline gets `timeout`; its
/// replies, if they still come, are skipped, never given to the next pipeline, and the
/// connection takes no new work and closes once nobody waits on it.
public final class RedisConnection: @unchecked Sendable {
    public let address: RedisAddress
    let loop: RedisEventLoop
    let openedAt = ContinuousClock.now

    private struct Shared {
        var retired = false
        var closed = false
        var answered = 0
        /// Pipelines handed in; equal to `answered` when it owes no replies.
        var sent = 0
        /// Sessions holding it: a retired connection stays open while one still may send.
        var holders = 0
        /// Why it closed: later pipelines get the same answer as those it failed.
        var failure: RedisClientError?
    }

    private struct Exchange: Sendable {
        let expected: Int
        let deadline: ContinuousClock.Instant
        let future: RedisReplyFuture
        var replies: [RedisValue] = []
        var abandoned = false
    }

    private enum Phase { case resolving, connecting, open, closed }

    private let shared = Locked(Shared())

    // Loop thread only.
    private var phase = Phase.resolving
    private var socket: NonBlockingSocket?
    private var candidates: ArraySlice<SocketAddress> = []
    private var outbox: [UInt8] = []
    private var outboxSent = 0
    /// The loop writes the outbox after this turn's jobs: pipelines queued in one turn share a write.
    private var flushScheduled = false
    private var exchanges: [Exchange] = []
    private let reader: RedisReplyReader
    private var lastActive = ContinuousClock.now

    private init(address: RedisAddress, loop: RedisEventLoop, limits: RedisReplyReader.Limits) {
        self.address = address
        self.loop = loop
        self.reader = RedisReplyReader(limits: limits)
    }

    /// Starts connecting and returns at once; pipelines may be sent right away (they are
    /// written once connected). A host name is resolved on `resolver` (getaddrinfo blocks);
    /// numeric addresses and unix paths never leave the loop.
    public static func open(to address: RedisAddress, deadline: Deadline, resolver: BlockingExecutor = .shared,
                            loop: RedisEventLoop = .shared, limits: RedisReplyReader.Limits = .standard) -> RedisConnection {
        let connection = RedisConnection(address: address, loop: loop, limits: limits)
        loop.onLoop { loop.register(connection) }
        if deadline.hasPassed {
            loop.onLoop(touching: connection) { connection.loopConnect(.failure(RedisClientError(.timeout, "no time left to connect"))) }
        } else if let numeric = SocketAddress.numeric(address) {
            let start: Result<[SocketAddress], RedisClientError> = numeric.isEmpty
                ? .failure(RedisClientError(.io, "unix socket path too long")) : .success(numeric)
            loop.onLoop(touching: connection) { connection.loopConnect(start) }
        } else if case .tcp(let host, let port) = address {
            Task {
                let resolved: Result<[SocketAddress], RedisClientError>
                do {
                    resolved = try await resolver.run(before: deadline) { SocketAddress.resolve(host: host, port: port) }
                } catch let failure as ProbeFailure where failure.reason == .timeout {
                    resolved = .failure(RedisClientError(.timeout, "no thread free to resolve \(host) before the deadline"))
                } catch {
                    resolved = .failure(RedisClientError(.resourceExhausted, "cannot resolve \(host): \(error)"))
                }
                let late = deadline.hasPassed ? RedisClientError(.timeout, "no time left to connect after resolving \(host)") : nil
                loop.execute(touching: connection) { connection.loopConnect(late.map { .failure($0) } ?? resolved) }
            }
        }
        return connection
    }

    /// Completes when the connection is established (or failed, or the deadline passed).
    public func connected(before deadline: Deadline) -> RedisReplyFuture {
        submit(expected: 0, bytes: [], deadline: deadline)
    }

    /// Sends the commands in one write; the future gets their replies, in order.
    public func send(_ commands: [[String]], before deadline: Deadline) -> RedisReplyFuture {
        submit(expected: commands.count, bytes: RESPCommand.encode(commands), deadline: deadline)
    }

    /// Waits for one reply without sending anything: what a server says unprompted right
    /// after accepting (Redis refusing a client over maxclients writes its error, then closes).
    public func unpromptedReply(before deadline: Deadline) -> RedisReplyFuture {
        submit(expected: 1, bytes: [], deadline: deadline)
    }

    private func submit(expected: Int, bytes: [UInt8], deadline: Deadline) -> RedisReplyFuture {
        let failure = shared.withLock { state -> RedisClientError? in
            if state.failure == nil && expected > 0 { state.sent += 1 }
            return state.failure
        }
        if let failure { return .failed(failure) }
        let exchange = Exchange(expected: expected, deadline: deadline.instant, future: RedisReplyFuture())
        loop.onLoop(touching: self) { [self] in loopEnqueue(exchange, bytes) }
        return exchange.future
    }

    /// Takes no new work; closes once the pipelines already sent are answered or abandoned.
    public func retire() {
        shared.withLock { $0.retired = true }
        loop.onLoop(touching: self) { [self] in loopCloseIfUnwanted() }
    }

    /// Takes no new work at once; the socket closes once the loop's turn has written what its
    /// jobs queued (nobody waits on a close).
    public func close() {
        shared.withLock { $0.retired = true }
        loop.afterWrites(touching: self) { [self] in loopShutdown(RedisClientError(.closed, "connection closed by the client")) }
    }

    /// A session starts using it: it is not closed for being retired or idle until `release`.
    func hold() { shared.withLock { $0.holders += 1 } }

    func release() {
        shared.withLock { $0.holders -= 1 }
        loop.onLoop(touching: self) { [self] in loopCloseIfUnwanted() }
    }

    /// Neither retired nor closed: may be given new pipelines.
    public var isUsable: Bool {
        let state = shared.current
        return !state.retired && !state.closed
    }

    /// Whether any pipeline was answered on it (a pooled connection that has worked before).
    var hasAnswered: Bool { shared.current.answered > 0 }

    /// Usable, answered before, and owing no replies: the server answered everything asked of
    /// it here. (A pipeline refused at its deadline before it was sent stays owed: the
    /// connection is then never idle again, which only costs the shortcut this serves.)
    var isAnsweredAndIdle: Bool {
        let state = shared.current
        return !state.retired && !state.closed && state.answered > 0 && state.answered == state.sent
    }

    // MARK: loop thread

    func loopConnect(_ addresses: Result<[SocketAddress], RedisClientError>) {
        guard phase == .resolving else { return }
        switch addresses {
        case .failure(let error): loopShutdown(error)
        case .success(let list):
            candidates = list[...]
            loopConnectNext()
        }
    }

    /// Tries the remaining addresses in order; a refusal moves on to the next.
    private func loopConnectNext() {
        while let next = candidates.popFirst() {
            do {
                let (socket, progress) = try NonBlockingSocket.connect(to: next)
                self.socket = socket
                phase = .connecting
                if progress == .connected { loopOpened() }
                return
            } catch {
                if error.kind == .refused && !candidates.isEmpty { continue }
                loopShutdown(error)
                return
            }
        }
        loopShutdown(RedisClientError(.io, "no address to connect to"))
    }

    private func loopOpened() {
        phase = .open
        lastActive = .now
        let ready = exchanges.filter { $0.expected == 0 }
        exchanges.removeAll { $0.expected == 0 }
        for exchange in ready where !exchange.abandoned { exchange.future.complete(.success([])) }
        loopFlush()
    }

    private func loopEnqueue(_ exchange: Exchange, _ bytes: [UInt8]) {
        guard phase != .closed else {
            exchange.future.complete(.failure(shared.current.failure ?? RedisClientError(.closed, "connection already closed")))
            return
        }
        if exchange.deadline <= .now {
            // Nothing is sent past its deadline, and "connected" is not news by then.
            exchange.future.complete(.failure(RedisClientError(.timeout, "no time left before the deadline")))
            return
        }
        if exchange.expected == 0 && phase == .open {
            exchange.future.complete(.success([]))
            return
        }
        exchanges.append(exchange)
        outbox.append(contentsOf: bytes)
        if phase == .open && !bytes.isEmpty && !flushScheduled {
            flushScheduled = true
            loop.flushAfterJobs(self)
        }
    }

    func loopFlushQueued() {
        flushScheduled = false
        if phase == .open { loopFlush() }
    }

    var loopPollEvents: (Int32, Int16)? {
        guard let socket else { return nil }
        switch phase {
        case .connecting: return (socket.fd, Int16(POLLOUT))
        case .open: return (socket.fd, Int16(POLLIN) | (outboxSent < outbox.count ? Int16(POLLOUT) : 0))
        case .resolving, .closed: return nil
        }
    }

    var loopNextDeadline: ContinuousClock.Instant? {
        exchanges.lazy.filter { !$0.abandoned }.map(\.deadline).min()
    }

    func loopHandle(_ events: Int16) {
        guard let socket else { return }
        switch phase {
        case .connecting:
            do {
                try socket.connectResult()
                loopOpened()
            } catch {
                loop.unwatch(self)
                socket.close()
                self.socket = nil
                if error.kind == .refused && !candidates.isEmpty { loopConnectNext() } else { loopShutdown(error) }
            }
        case .open:
            if events & Int16(POLLOUT) != 0 { loopFlush() }
            if phase == .open && events & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0 { loopRead() }
        case .resolving, .closed:
            break
        }
    }

    private func loopFlush() {
        guard let socket else { return }
        do throws(RedisClientError) {
            while outboxSent < outbox.count {
                let attempt = outbox.withUnsafeBytes { raw in
                    Result { () throws(RedisClientError) in try socket.send(UnsafeRawBufferPointer(rebasing: raw[outboxSent...])) }
                }
                let sent = try attempt.get()
                loop.countWrite()
                if sent == 0 { return }
                outboxSent += sent
            }
            outbox.removeAll(keepingCapacity: outbox.count <= 64 << 10)
            outboxSent = 0
        } catch {
            loopShutdown(error)
        }
    }

    private func loopRead() {
        do throws(RedisClientError) {
            // A few reads per wakeup: one connection streaming bytes cannot starve the others.
            for _ in 0..<4 {
                guard phase == .open, let socket else { return }
                switch try socket.receive(into: loop.readBuffer) {
                case .wouldBlock: return
                case .closed:
                    let answered = exchanges.first?.replies.last
                    var serverError: String?
                    if case .error(let message) = answered { serverError = message }
                    loopShutdown(RedisClientError(.closed, "server closed the connection", serverError: serverError))
                    return
                case .bytes(let count):
                    try reader.feed(UnsafeRawBufferPointer(rebasing: loop.readBuffer[..<count]))
                    try loopTakeReplies()
                    // A short read took all there was: the (level-triggered) wait reports the rest,
                    // so no call just to be told there is nothing.
                    if count < loop.readBuffer.count { return }
                }
            }
        } catch {
            loopShutdown(error)
        }
    }

    private func loopTakeReplies() throws(RedisClientError) {
        while let reply = try reader.next() {
            guard !exchanges.isEmpty else {
                // Redis speaks first only to refuse a client (maxclients), then closes: that is the answer to what comes next.
                if case .error(let message) = reply { throw RedisClientError(.protocol, "server sent unprompted: \(message)", serverError: message) }
                throw RedisClientError(.protocol, "server sent a reply nobody asked for: \(reply)")
            }
            exchanges[0].replies.append(reply)
            guard exchanges[0].replies.count == exchanges[0].expected else { continue }
            let done = exchanges.removeFirst()
            lastActive = .now
            shared.withLock { $0.answered += 1 }
            if !done.abandoned { done.future.complete(.success(done.replies)) }
        }
        if exchanges.isEmpty && reader.pendingBytes > 0 {
            throw RedisClientError(.protocol, "server sent \(reader.pendingBytes) bytes nobody asked for")
        }
        loopCloseIfUnwanted()
    }

    func loopExpire(now: ContinuousClock.Instant) {
        var expired = false
        for index in exchanges.indices where !exchanges[index].abandoned && exchanges[index].deadline <= now {
            exchanges[index].abandoned = true
            expired = true
            let doing = phase == .open ? (outboxSent < outbox.count ? "sending" : "waiting for the reply") : "connecting"
            exchanges[index].future.complete(.failure(RedisClientError(.timeout, "deadline passed while \(doing)")))
        }
        guard expired else { return }
        // Replies may still be owed to the abandoned pipeline: nothing new goes on this connection.
        shared.withLock { $0.retired = true }
        loopCloseIfUnwanted()
    }

    func loopSweep(now: ContinuousClock.Instant, idleTimeout: Duration, maxAge: Duration) {
        guard exchanges.isEmpty, phase == .open, shared.current.holders == 0 else { return }
        if now - lastActive >= idleTimeout {
            loopShutdown(RedisClientError(.closed, "closed after \(idleTimeout) idle"))
        } else if now - openedAt >= maxAge {
            loopShutdown(RedisClientError(.closed, "closed at its maximum age of \(maxAge)"))
        }
    }

    private func loopCloseIfUnwanted() {
        let state = shared.current
        guard phase != .closed, state.retired, state.holders == 0, exchanges.allSatisfy(\.abandoned) else { return }
        loopShutdown(RedisClientError(.closed, "connection retired"))
    }

    private func loopShutdown(_ error: RedisClientError) {
        guard phase != .closed else { return }
        phase = .closed
        loop.unwatch(self)
        socket?.close()
        socket = nil
        shared.withLock {
            $0.closed = true
            $0.retired = true
            $0.failure = error
        }
        let waiting = exchanges.filter { !$0.abandoned }
        exchanges = []
        outbox = []
        outboxSent = 0
        loop.unregister(self)
        for exchange in waiting { exchange.future.complete(.failure(error)) }
    }
}
