import CHiredis
import Foundation

/// One Redis connection: hiredis connects (name resolution, TCP or unix socket), then this
/// drives the socket itself under one deadline per exchange and parses replies with a
/// `RedisReplyReader`, so neither a slow nor a hostile server can hold a thread past the
/// deadline or make it allocate past the reader's limits. Not thread-safe: it is used by one
/// thread at a time (a pool lease).
public final class RedisConnection: @unchecked Sendable {
    private var context: UnsafeMutablePointer<redisContext>?
    private let socket: DeadlineSocket
    private let reader: RedisReplyReader

    private init(context: UnsafeMutablePointer<redisContext>, limits: RedisReplyReader.Limits) {
        self.context = context
        self.socket = DeadlineSocket(fd: context.pointee.fd)
        self.reader = RedisReplyReader(limits: limits)
    }

    deinit { close() }

    public static func connect(to address: RedisAddress, timeout: Duration) throws -> RedisConnection {
        try connect(to: address, timeout: timeout, limits: .standard)
    }

    static func connect(to address: RedisAddress, timeout: Duration, limits: RedisReplyReader.Limits) throws -> RedisConnection {
        guard timeout > .zero else { throw RedisClientError(.timeout, "no time left to connect") }
        let raw: UnsafeMutablePointer<redisContext>?
        switch address {
        case .tcp(let host, let port):
            raw = redisConnectWithTimeout(host, Int32(port), timeout.timeval)
        case .unix(let path):
            raw = redisConnectUnixWithTimeout(path, timeout.timeval)
        }
        guard let raw else { throw RedisClientError(.io, "cannot allocate a Redis context") }
        if raw.pointee.err != 0 {
            let error = classify(raw)
            redisFree(raw)
            throw error
        }
        if case .tcp = address { _ = redisEnableKeepAlive(raw) }
        return RedisConnection(context: raw, limits: limits)
    }

    /// Sends one command (binary-safe argv, no format string) and reads its reply.
    public func command(_ arguments: [String], timeout: Duration) throws -> RedisValue {
        try pipeline([arguments], timeout: timeout)[0]
    }

    /// Sends several commands in one write and reads all replies: one round trip, bounded as a
    /// whole by `timeout`. Any failure closes the connection (its state is unknown after it).
    public func pipeline(_ commands: [[String]], timeout: Duration) throws -> [RedisValue] {
        guard context != nil else { throw RedisClientError(.closed, "connection already closed") }
        guard timeout > .zero else { throw RedisClientError(.timeout, "no time left before the deadline") }
        let deadline = ContinuousClock.now + timeout
        do {
            // Bytes nobody asked for would be taken as the answers to these commands.
            if reader.pendingBytes > 0 { throw RedisClientError(.protocol, "server sent \(reader.pendingBytes) bytes nobody asked for") }
            try socket.send(RESPCommand.encode(commands), before: deadline)
            return try readReplies(commands.count, before: deadline)
        } catch {
            close()
            throw error
        }
    }

    private func readReplies(_ count: Int, before deadline: ContinuousClock.Instant) throws(RedisClientError) -> [RedisValue] {
        var replies: [RedisValue] = []
        replies.reserveCapacity(count)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 1)
        defer { buffer.deallocate() }
        while true {
            while replies.count < count, let reply = try reader.next() { replies.append(reply) }
            if replies.count == count { return replies }
            let received = try socket.receive(into: buffer, before: deadline)
            try reader.feed(UnsafeRawBufferPointer(rebasing: buffer[..<received]))
        }
    }

    public var isOpen: Bool { context != nil }

    public func close() {
        if let context { redisFree(context) }
        context = nil
    }

    private static func classify(_ context: UnsafeMutablePointer<redisContext>) -> RedisClientError {
        let code = context.pointee.err
        let message = withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
        }
        let lower = message.lowercased()
        if lower.contains("refused") { return RedisClientError(.refused, message) }
        if lower.contains("timed out") || lower.contains("temporarily unavailable") || lower.contains("in progress") {
            return RedisClientError(.timeout, message)
        }
        if lower.contains("name or service") || lower.contains("name resolution") || lower.contains("nodename")
            || lower.contains("no address") || lower.contains("servname") {
            return RedisClientError(.dns, message)
        }
        switch code {
        case REDIS_ERR_EOF: return RedisClientError(.closed, message.isEmpty ? "server closed the connection" : message)
        case REDIS_ERR_PROTOCOL: return RedisClientError(.protocol, message)
        default: return RedisClientError(.io, message)
        }
    }
}

/// Where a Redis server listens: `host:port`, `[v6]:port`, `host` (port 6379) or `unix:/path`.
public enum RedisAddress: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    public init?(_ text: String) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5)).replacingOccurrences(of: "//", with: "/")
            guard path.hasPrefix("/") else { return nil }
            self = .unix(path: path)
            return
        }
        var rest = text
        if rest.hasPrefix("redis://") { rest.removeFirst(8) }
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            let host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.isEmpty { self = .tcp(host: host, port: 6379); return }
            guard after.hasPrefix(":"), let port = Int(after.dropFirst()), (1...65535).contains(port) else { return nil }
            self = .tcp(host: host, port: port)
            return
        }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
        guard let host = parts.first, !host.isEmpty, parts.count <= 2 else { return nil }
        if parts.count == 1 { self = .tcp(host: String(host), port: 6379); return }
        guard let port = Int(parts[1]), (1...65535).contains(port) else { return nil }
        self = .tcp(host: String(host), port: port)
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }
}
