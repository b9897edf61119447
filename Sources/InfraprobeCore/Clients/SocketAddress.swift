import CShims
import FoundationEssentials
import Glibc

/// A resolved address to connect a stream socket to (IPv4, IPv6 or a unix path), as the bytes
/// `connect(2)` takes.
struct SocketAddress: Sendable, CustomStringConvertible {
    let family: Int32
    private let storage: [UInt8]

    private init<T>(family: Int32, _ raw: T) {
        self.family = family
        storage = withUnsafeBytes(of: raw) { Array($0) }
    }

    private init(family: Int32, bytes: UnsafeRawBufferPointer) {
        self.family = family
        storage = Array(bytes)
    }

    /// The addresses of a Redis address without asking a resolver, or nil for a host name.
    static func numeric(_ address: RedisAddress) -> [SocketAddress]? {
        switch address {
        case .unix(let path):
            var raw = sockaddr_un()
            raw.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            let capacity = MemoryLayout.size(ofValue: raw.sun_path)
            guard bytes.count < capacity else { return [] }
            withUnsafeMutableBytes(of: &raw.sun_path) { target in
                target.copyBytes(from: bytes)
            }
            return [SocketAddress(family: AF_UNIX, raw)]
        case .tcp(let host, let port):
            var v4 = sockaddr_in()
            if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
                v4.sin_family = sa_family_t(AF_INET)
                v4.sin_port = in_port_t(UInt16(port).bigEndian)
                return [SocketAddress(family: AF_INET, v4)]
            }
            var v6 = sockaddr_in6()
            if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
                v6.sin6_family = sa_family_t(AF_INET6)
                v6.sin6_port = in_port_t(UInt16(port).bigEndian)
                return [SocketAddress(family: AF_INET6, v6)]
            }
            return nil
        }
    }

    /// getaddrinfo(3): blocks, so it runs on a blocking-executor thread, never on the event loop.
    static func resolve(host: String, port: Int) -> Result<[SocketAddress], RedisClientError> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0 else {
            let message = "cannot resolve \(host): \(String(cString: gai_strerror(status)))"
            if status == EAI_MEMORY { return .failure(RedisClientError(.resourceExhausted, message)) }
            if status == EAI_SYSTEM && (errno == EMFILE || errno == ENFILE) { return .failure(RedisClientError(.resourceExhausted, message)) }
            return .failure(RedisClientError(.dns, message))
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var entry = list
        while let current = entry {
            let info = current.pointee
            if let raw = info.ai_addr, info.ai_family == AF_INET || info.ai_family == AF_INET6 {
                addresses.append(SocketAddress(family: info.ai_family, bytes: UnsafeRawBufferPointer(start: raw, count: Int(info.ai_addrlen))))
            }
            entry = info.ai_next
        }
        return addresses.isEmpty ? .failure(RedisClientError(.dns, "\(host) has no IPv4 or IPv6 address")) : .success(addresses)
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        storage.withUnsafeBytes { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
    }

    var description: String {
        switch family {
        case AF_UNIX: return "unix socket"
        case AF_INET6: return "IPv6 address"
        default: return "IPv4 address"
        }
    }
}
