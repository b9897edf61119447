import CHiredis
import CShims

/// Parses RESP2 replies with hiredis' parser and copies them out as `RedisValue`s, refusing a
/// reply that declares or sends more than `limits` allow before memory is spent on it.
/// Feed it bytes as they arrive; take replies with `next()`. After an error it stays failed.
public final class RedisReplyReader {
    /// Far above any reply the probers read (INFO sections are under 2 KiB, the largest array a
    /// handful of entries), far below what would hurt: one reply costs at most about 1 MB,
    /// so even every blocking thread holding one stays inside the unit's MemoryMax.
    public struct Limits: Sendable {
        /// Elements of all arrays in one reply together.
        public var maxElements: Int
        /// Bytes of one reply's strings plus its not yet parsed remainder.
        public var maxBytes: Int
        /// Bytes of one line (status, error, integer, length) still waiting for its end.
        public var maxLineBytes: Int

        public static let standard = Limits()

        public init(maxElements: Int = 2048, maxBytes: Int = 128 << 10, maxLineBytes: Int = 16 << 10) {
            self.maxElements = maxElements
            self.maxBytes = maxBytes
            self.maxLineBytes = maxLineBytes
        }
    }

    public let limits: Limits
    private let reader: OpaquePointer

    public init(limits: Limits = .standard) {
        self.limits = limits
        guard let reader = cshim_redis_reader_create(limits.maxElements, limits.maxBytes, limits.maxLineBytes) else {
            fatalError("cannot allocate a Redis reply reader")
        }
        self.reader = reader
    }

    deinit { cshim_redis_reader_free(reader) }

    public func feed(_ bytes: UnsafeRawBufferPointer) throws(RedisClientError) {
        let status = Self.feed(reader, bytes)
        if status != Int32(CSHIM_REDIS_NEED_MORE) { throw error(status) }
    }

    public func feed(_ bytes: [UInt8]) throws(RedisClientError) {
        let status = bytes.withUnsafeBytes { Self.feed(reader, $0) }
        if status != Int32(CSHIM_REDIS_NEED_MORE) { throw error(status) }
    }

    private static func feed(_ reader: OpaquePointer, _ bytes: UnsafeRawBufferPointer) -> Int32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return Int32(CSHIM_REDIS_NEED_MORE) }
        return cshim_redis_reader_feed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count)
    }

    /// The next complete reply, nil until one is buffered.
    public func next() throws(RedisClientError) -> RedisValue? {
        var raw: UnsafeMutableRawPointer?
        let status = cshim_redis_reader_next(reader, &raw)
        switch status {
        case Int32(CSHIM_REDIS_NEED_MORE): return nil
        case Int32(CSHIM_REDIS_REPLY):
            guard let raw else { return nil }
            defer { freeReplyObject(raw) }
            return Self.convert(raw.assumingMemoryBound(to: redisReply.self))
        default:
            throw error(status)
        }
    }

    /// Bytes received but not part of any reply taken so far.
    public var pendingBytes: Int { cshim_redis_reader_pending(reader) }

    private func error(_ status: Int32) -> RedisClientError {
        let size = cshim_redis_reader_offending_size(reader)
        switch status {
        case Int32(CSHIM_REDIS_TOO_MANY_ELEMENTS):
            return RedisClientError(.protocol, "reply declares an array of \(size) elements, over the limit of \(limits.maxElements) elements per reply")
        case Int32(CSHIM_REDIS_TOO_MANY_BYTES):
            return RedisClientError(.protocol, "reply exceeds the limit of \(limits.maxBytes) bytes per reply")
        case Int32(CSHIM_REDIS_STRING_TOO_LONG):
            return RedisClientError(.protocol, "reply declares a string of \(size) bytes, over the limit of \(limits.maxBytes) bytes per reply")
        case Int32(CSHIM_REDIS_LINE_TOO_LONG):
            return RedisClientError(.protocol, "reply line runs past \(limits.maxLineBytes) bytes without ending")
        case Int32(CSHIM_REDIS_OUT_OF_MEMORY):
            return RedisClientError(.io, "out of memory while reading a reply")
        default:
            let message = String(cString: cshim_redis_reader_error(reader))
            return RedisClientError(.protocol, message.isEmpty ? "reply is not RESP" : message)
        }
    }

    /// Depth is bounded by hiredis (7 nested arrays), size by the limits.
    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STATUS: return .status(text(r))
        case REDIS_REPLY_ERROR: return .error(text(r))
        case REDIS_REPLY_INTEGER: return .integer(Int64(r.integer))
        case REDIS_REPLY_NIL: return .null
        case REDIS_REPLY_STRING:
            guard let str = r.str else { return .bulk([]) }
            return .bulk(Array(UnsafeRawBufferPointer(start: str, count: r.len)))
        case REDIS_REPLY_ARRAY:
            guard let elements = r.element else { return .array([]) }
            var values: [RedisValue] = []
            values.reserveCapacity(r.elements)
            for index in 0..<r.elements {
                values.append(elements[index].map(convert) ?? .null)
            }
            return .array(values)
        default:
            return .error("unsupported reply type \(r.type)")
        }
    }

    private static func text(_ reply: redisReply) -> String {
        guard let str = reply.str else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: str, count: reply.len), as: UTF8.self)
    }
}
