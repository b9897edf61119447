import Testing
@testable import InfraprobeCore

@Suite("RESP reply reader")
struct RedisReplyReaderTests {
    @Test func test_replyReader_convertsEveryReplyType_likeTheConnection() throws {
        let reader = RedisReplyReader()
        reader.feed(Array("+PONG\r\n-ERR wrong\r\n:-42\r\n$3\r\nf\0o\r\n$-1\r\n*2\r\n:1\r\n*-1\r\n".utf8))
        var replies: [RedisValue] = []
        while let reply = try reader.next() { replies.append(reply) }
        #expect(replies == [.status("PONG"), .error("ERR wrong"), .integer(-42), .bulk([0x66, 0, 0x6F]), .null, .array([.integer(1), .null])])
    }

    @Test func test_replyReader_waitsForTheRestOfASplitReply() throws {
        let reader = RedisReplyReader()
        reader.feed(Array("$5\r\nhel".utf8))
        #expect(try reader.next() == nil)
        reader.feed(Array("lo\r\n".utf8))
        #expect(try reader.next() == .bulk(Array("hello".utf8)))
    }

    @Test func test_replyReader_throwsProtocol_forBytesThatAreNotRESP() {
        let reader = RedisReplyReader()
        reader.feed(Array("HTTP/1.1 400 Bad Request\r\n".utf8))
        #expect(throws: RedisClientError.self) { try reader.next() }
        #expect((try? reader.next()) == nil)
    }
}
