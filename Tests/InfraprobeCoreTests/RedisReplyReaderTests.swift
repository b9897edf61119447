import Foundation
import Testing
@testable import InfraprobeCore

/// The bounded RESP reader on its own: limits are per reply, replies split anywhere across
/// reads come out whole, and a refused reply leaves the reader failed.
@Suite("Redis reply reader")
struct RedisReplyReaderTests {
    static func bulk(_ count: Int) -> [UInt8] {
        Array("$\(count)\r\n".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: count) + Array("\r\n".utf8)
    }

    @Test func test_replyReader_acceptsRepliesThatTogetherExceedTheLimit_whenEachIsUnder() throws {
        let reader = RedisReplyReader()
        let size = 100 << 10  // each under the 128 KiB limit, together 300 KiB
        let stream = Self.bulk(size) + Self.bulk(size) + Self.bulk(size)
        var replies: [RedisValue] = []
        for start in stride(from: 0, to: stream.count, by: 16 * 1024) {
            try reader.feed(Array(stream[start..<min(start + 16 * 1024, stream.count)]))
            while let reply = try reader.next() { replies.append(reply) }
        }
        #expect(replies.count == 3)
        #expect(replies.allSatisfy { $0 == .bulk([UInt8](repeating: UInt8(ascii: "x"), count: size)) })
    }

    @Test func test_replyReader_parsesPipelinedReplies_fedOneByteAtATime() throws {
        let reader = RedisReplyReader()
        let stream = Array("+OK\r\n:42\r\n$-1\r\n*2\r\n$3\r\nabc\r\n-ERR no\r\n".utf8)
        var replies: [RedisValue] = []
        for byte in stream {
            try reader.feed([byte])
            while let reply = try reader.next() { replies.append(reply) }
        }
        #expect(replies == [.status("OK"), .integer(42), .null, .array([.bulk(Array("abc".utf8)), .error("ERR no")])])
        #expect(reader.pendingBytes == 0)
    }

    @Test func test_replyReader_refusesElementsBeyondTheLimit_andStaysFailed() throws {
        let reader = RedisReplyReader(limits: .init(maxElements: 10, maxBytes: 1 << 20, maxLineBytes: 1000))
        try reader.feed(Array("*3\r\n:1\r\n:2\r\n:3\r\n".utf8))
        #expect(try reader.next() == .array([.integer(1), .integer(2), .integer(3)]))
        try reader.feed(Array("*11\r\n".utf8))
        #expect(throws: RedisClientError.self) { try reader.next() }
        #expect(throws: RedisClientError.self) { try reader.feed(Array("+OK\r\n".utf8)) }
    }

    @Test func test_replyReader_refusesALineLongerThanTheLimit_beforeItEnds() throws {
        let reader = RedisReplyReader(limits: .init(maxElements: 10, maxBytes: 1 << 20, maxLineBytes: 1000))
        try reader.feed(Array("+".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 999))
        #expect(try reader.next() == nil)
        try reader.feed([UInt8](repeating: UInt8(ascii: "a"), count: 10))
        let error = #expect(throws: RedisClientError.self) { try reader.next() }
        #expect(error?.kind == .protocol)
    }

    @Test func test_replyReader_refusesADeclaredStringOverTheLimit_beforeItArrives() throws {
        let reader = RedisReplyReader(limits: .init(maxElements: 10, maxBytes: 1000, maxLineBytes: 100))
        try reader.feed(Array("*2\r\n$600\r\n".utf8) + [UInt8](repeating: 0, count: 600) + Array("\r\n$401\r\n".utf8))
        let error = #expect(throws: RedisClientError.self) { try reader.next() }
        #expect(error?.message.contains("string of 401 bytes") == true, "\(String(describing: error))")
    }
}
