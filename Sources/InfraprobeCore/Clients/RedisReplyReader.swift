import CHiredis

/// hiredis' RESP reader on bytes handed to it, converted exactly as `RedisConnection` converts
/// the replies it reads from a socket. Lets the reply handling be tested and fuzzed without a
/// server.
public final class RedisReplyReader {
    private let reader: UnsafeMutablePointer<redisReader>

    public init() {
        guard let reader = redisReaderCreate() else { fatalError("hiredis could not allocate a reader") }
        self.reader = reader
    }

    deinit { redisReaderFree(reader) }

    /// Appends raw bytes; false once the reader has failed (it then accepts nothing more).
    @discardableResult
    public func feed(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                redisReaderFeed(reader, chars.baseAddress, chars.count) == REDIS_OK
            }
        }
    }

    /// The next complete reply, nil when more bytes are needed; throws `protocol` for bytes
    /// that are not RESP.
    public func next() throws -> RedisValue? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else {
            let message = withUnsafeBytes(of: reader.pointee.errstr) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            throw RedisClientError(.protocol, message.isEmpty ? "invalid RESP reply" : message)
        }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return RedisConnection.convert(raw.assumingMemoryBound(to: redisReply.self))
    }
}
