/// A RESP2 reply, copied out of hiredis' reply tree.
public indirect enum RedisValue: Sendable, Equatable, CustomStringConvertible {
    case status(String)
    case error(String)
    case integer(Int64)
    case bulk([UInt8])
    case null
    case array([RedisValue])

    public var string: String? {
        switch self {
        case .status(let text): return text
        case .bulk(let bytes): return String(decoding: bytes, as: UTF8.self)
        default: return nil
        }
    }

    public var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    public var array: [RedisValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    public var description: String {
        switch self {
        case .status(let text): return text
        case .error(let text): return "(error) \(text)"
        case .integer(let value): return "(integer) \(value)"
        case .bulk(let bytes): return "\"\(String(decoding: bytes.prefix(200), as: UTF8.self))\""
        case .null: return "(nil)"
        case .array(let values): return "[" + values.map(\.description).joined(separator: ", ") + "]"
        }
    }
}

/// Why a Redis connection or command failed at the transport level.
public struct RedisClientError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// `resourceExhausted`: this process ran out of descriptors (or socket memory), not the server.
        case refused, dns, timeout, closed, io, `protocol`, resourceExhausted
    }

    public let kind: Kind
    public let message: String
    /// An error reply the server sent just before it closed the connection (e.g. "ERR max
    /// number of clients reached"): the real reason, where the transport only saw the close.
    public let serverError: String?

    public init(_ kind: Kind, _ message: String, serverError: String? = nil) {
        self.kind = kind
        self.message = message
        self.serverError = serverError
    }

    public var description: String { message }
}

/// RESP2 wire sizes, for the debug steps ("bytes sent/received").
enum RESPSize {
    static func of(_ value: RedisValue) -> Int {
        switch value {
        case .status(let text), .error(let text): return 3 + text.utf8.count
        case .integer(let number): return 3 + String(number).utf8.count
        case .bulk(let bytes): return 5 + String(bytes.count).utf8.count + bytes.count
        case .null: return 5
        case .array(let values): return 3 + String(values.count).utf8.count + values.reduce(0) { $0 + of($1) }
        }
    }

    static func of(command arguments: [String]) -> Int {
        3 + String(arguments.count).utf8.count + arguments.reduce(0) { $0 + 5 + String($1.utf8.count).utf8.count + $1.utf8.count }
    }
}

