import Foundation

/// A TCP server on a free loopback port that plays a broken or malicious Redis: once a
/// connection has sent its first bytes (a command), it answers with `behavior` instead of
/// RESP. One thread polls every connection; what it sends is bounded (`maxBytesPerConnection`)
/// and it stops with the test. It counts connections the client has not closed yet, which is
/// how tests see that the client let go of every socket.
final class HostileRedisServer: @unchecked Sendable {
    enum Behavior: Sendable {
        /// Accepts and reads, never answers.
        case silent
        /// Sends these bytes once, then holds the connection open.
        case reply([UInt8])
        /// Sends `prefix`, then `filler` repeated as fast as the client takes it.
        case stream(prefix: [UInt8], filler: UInt8)
        /// Sends `bytes` one at a time, one every `interval`, cycling.
        case drip([UInt8], interval: Duration)
    }

    let port: Int
    let behavior: Behavior
    let maxBytesPerConnection: Int
    private let listener: Int32
    private let state = NSLock()
    private var stopping = false
    private var open = 0
    private var peak = 0
    private var accepted = 0
    private let done = DispatchSemaphore(value: 0)

    private struct Connection {
        let fd: Int32
        var answering = false
        var sent = 0
        var nextDrip = ContinuousClock.now
    }

    init(_ behavior: Behavior, maxBytesPerConnection: Int = 64 << 20) throws {
        self.behavior = behavior
        self.maxBytesPerConnection = maxBytesPerConnection
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 1024) == 0 else { close(fd); throw TestFailure("cannot listen") }
        _ = fcntl(fd, F_SETFL, O_NONBLOCK)  // accept until EAGAIN; connections use MSG_DONTWAIT
        listener = fd
        port = FreePort.boundPort(fd)
        let thread = Thread { [self] in serve() }
        thread.name = "hostile-redis"
        thread.start()
    }

    var address: String { "127.0.0.1:\(port)" }

    /// Connections accepted and not yet closed by the client.
    var openConnections: Int { state.withLock { open } }
    var acceptedConnections: Int { state.withLock { accepted } }
    /// The most connections open at once.
    var peakConnections: Int { state.withLock { peak } }

    /// Waits up to `limit` for the client to have closed every connection; true if it did.
    func waitUntilAllClosed(within limit: Duration) async -> Bool {
        let end = ContinuousClock.now + limit
        while openConnections > 0 {
            if ContinuousClock.now >= end { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    func stop() {
        let first = state.withLock { () -> Bool in
            defer { stopping = true }
            return !stopping
        }
        if first { done.wait() }
    }

    deinit { stop() }

    private func serve() {
        var connections: [Connection] = []
        var scratch = [UInt8](repeating: 0, count: 64 * 1024)
        let chunk = streamChunk()
        while !state.withLock({ stopping }) {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
            for connection in connections {
                var events = Int16(POLLIN)
                if connection.answering, wantsToWrite(connection) { events |= Int16(POLLOUT) }
                fds.append(pollfd(fd: connection.fd, events: events, revents: 0))
            }
            _ = poll(&fds, nfds_t(fds.count), 5)
            var kept: [Connection] = []
            if fds[0].revents & Int16(POLLIN) != 0 {
                while true {
                    let client = accept(listener, nil, nil)
                    guard client >= 0 else { break }
                    kept.append(Connection(fd: client))
                    state.withLock { open += 1; accepted += 1; peak = max(peak, open) }
                }
            }
            for (index, var connection) in connections.enumerated() {
                let revents = fds[index + 1].revents
                var closed = false
                if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                    let count = recv(connection.fd, &scratch, scratch.count, Int32(MSG_DONTWAIT))
                    if count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR) {
                        closed = true
                    } else if count > 0 {
                        connection.answering = true
                    }
                }
                if !closed && connection.answering { closed = !answer(&connection, chunk: chunk) }
                if closed {
                    close(connection.fd)
                    state.withLock { open -= 1 }
                } else {
                    kept.append(connection)
                }
            }
            connections = kept
        }
        for connection in connections { close(connection.fd) }
        state.withLock { open -= connections.count }
        close(listener)
        done.signal()
    }

    private func wantsToWrite(_ connection: Connection) -> Bool {
        guard connection.sent < maxBytesPerConnection else { return false }
        switch behavior {
        case .silent: return false
        case .reply(let bytes): return connection.sent < bytes.count
        case .stream: return true
        case .drip: return ContinuousClock.now >= connection.nextDrip
        }
    }

    private func streamChunk() -> [UInt8] {
        if case .stream(_, let filler) = behavior { return [UInt8](repeating: filler, count: 64 * 1024) }
        return []
    }

    /// Sends what the behavior says is due; false when the client has gone.
    private func answer(_ connection: inout Connection, chunk: [UInt8]) -> Bool {
        guard wantsToWrite(connection) else { return true }
        let pending: ArraySlice<UInt8>
        switch behavior {
        case .silent: return true
        case .reply(let bytes): pending = bytes[connection.sent...]
        case .stream(let prefix, _):
            pending = connection.sent < prefix.count ? prefix[connection.sent...] : chunk[...]
        case .drip(let bytes, let interval):
            guard !bytes.isEmpty else { return true }
            let index = connection.sent % bytes.count
            pending = bytes[index...index]
            connection.nextDrip = ContinuousClock.now + interval
        }
        let budget = min(pending.count, maxBytesPerConnection - connection.sent)
        let sent = pending.withUnsafeBytes { send(connection.fd, $0.baseAddress, budget, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        if sent > 0 { connection.sent += sent; return true }
        return sent == 0 || errno == EAGAIN || errno == EINTR
    }
}
