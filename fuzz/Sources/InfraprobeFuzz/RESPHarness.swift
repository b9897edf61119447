import InfraprobeCore

/// Raw bytes as a Redis server's answer: RedisReplyReader (hiredis' reader with the reply limits
/// and conversion the Redis connections use), then the accessors the Redis prober reads replies with.
enum RESPHarness {
    static let harness = Harness(name: "resp") { bytes in
        let reader = RedisReplyReader()
        // Split in two feeds so replies that straddle reads are exercised too.
        let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
        guard (try? reader.feed(Array(bytes[..<cut]))) != nil, drain(reader) else { return }
        guard (try? reader.feed(Array(bytes[cut...]))) != nil else { return }
        _ = drain(reader)
    }

    /// Reads every complete reply; false once the reader refused the bytes.
    static func drain(_ reader: RedisReplyReader) -> Bool {
        do {
            while let value = try reader.next() { visit(value) }
            return true
        } catch {
            return false
        }
    }

    static func visit(_ value: RedisValue) {
        _ = (value.string, value.integer, value.description)
        for item in value.array ?? [] { visit(item) }
    }
}
