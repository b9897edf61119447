import InfraprobeCore

/// Raw bytes as a Redis server's answer: hiredis' reader, the conversion RedisConnection uses,
/// and the accessors the Redis prober reads replies with.
enum RESPHarness {
    static let harness = Harness(name: "resp") { bytes in
        let reader = RedisReplyReader()
        // Split in two feeds so replies that straddle reads are exercised too.
        let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
        reader.feed(Array(bytes[..<cut]))
        drain(reader)
        reader.feed(Array(bytes[cut...]))
        drain(reader)
    }

    static func drain(_ reader: RedisReplyReader) {
        while let value = try? reader.next() {
            visit(value)
        }
    }

    static func visit(_ value: RedisValue) {
        _ = (value.string, value.integer, value.description)
        for item in value.array ?? [] { visit(item) }
    }
}
