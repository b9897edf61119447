import CHiredis
import Foundation

/// One blocking hiredis connection. Not thread-safe: it is used by one thread at a time
/// (a pool lease), and every call takes its timeout from the caller's deadline.
public final class RedisConnection: @unchecked Sendable {
    private var context: UnsafeMutablePointer<redisContext>?

    private init(context: UnsafeMutablePointer<redisContext>) {
        self.context = context
    }

    deinit { close() }

    public static func connect(to address: RedisAddress, timeout: Duration) throws -> RedisConnection {
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
        return RedisConnection(context: raw)
    }

    /// Sends one command (binary-safe argv, no format string) and reads its reply.
    public func command(_ arguments: [String], timeout: Duration) throws -> RedisValue {
        try pipeline([arguments], timeout: timeout)[0]
    }

    /// Sends several commands in one write and reads all replies: one round trip.
    public func pipeline(_ commands: [[String]], timeout: Duration) throws -> [RedisValue] {
        guard let context else { throw RedisClientError(.closed, "connection already closed") }
        guard timeout > .zero else { throw RedisClientError(.timeout, "no time left before the deadline") }
        _ = redisSetTimeout(context, timeout.timeval)
        for arguments in commands {
            Self.withArgv(arguments) { count, argv, lengths in
                _ = redisAppendCommandArgv(context, count, argv, lengths)
            }
        }
        var replies: [RedisValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                let error = Self.classify(context)
                close()
                throw error
            }
            replies.append(Self.convert(raw.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(raw)
        }
        return replies
    }

    private static func withArgv(_ arguments: [String],
                                 _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> Void) {
        let buffers: [UnsafeMutableRawBufferPointer] = arguments.map { argument in
            let bytes = Array(argument.utf8)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
            buffer.copyBytes(from: bytes)
            return buffer
        }
        defer { buffers.forEach { $0.deallocate() } }
        var argv: [UnsafePointer<CChar>?] = buffers.map { UnsafePointer($0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
        let lengths = arguments.map { $0.utf8.count }
        argv.withUnsafeMutableBufferPointer { argvBuffer in
            lengths.withUnsafeBufferPointer { lengthBuffer in
                body(Int32(arguments.count), argvBuffer.baseAddress!, lengthBuffer.baseAddress!)
            }
        }
    }

    public var isOpen: Bool { context != nil }

    public func close() {
        if let context { redisFree(context) }
        context = nil
    }

    /// Copies hiredis' reply tree into a RedisValue; `RedisReplyReader` uses it on raw bytes too.
    static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STATUS: return .status(text(r))
        case REDIS_REPLY_ERROR: return .error(text(r))
        case REDIS_REPLY_INTEGER: return .integer(Int64(r.integer))
        case REDIS_REPLY_NIL: return .null
        case REDIS_REPLY_STRING:
            guard let str = r.str else { return .bulk([]) }
            return .bulk(Array(UnsafeRawBufferPointer(start: str, count: Int(r.len))))
        case REDIS_REPLY_ARRAY:
            var values: [RedisValue] = []
            values.reserveCapacity(Int(r.elements))
            for index in 0..<Int(r.elements) {
                if let element = r.element[index] { values.append(convert(element)) } else { values.append(.null) }
            }
            return .array(values)
        default:
            return .error("unsupported reply type \(r.type)")
        }
    }

    private static func text(_ reply: redisReply) -> String {
        guard let str = reply.str else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: str, count: Int(reply.len)), as: UTF8.self)
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
