/// Where a Redis server listens: `host:port`, `[v6]:port`, `host` (port 6379) or `unix:/path`.
public enum RedisAddress: Sendable, Hashable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    public init?(_ text: String) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5)).replacingEvery("//", with: "/")
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
