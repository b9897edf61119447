import CShims
import FoundationEssentials
import Glibc

/// The socket calls the Redis event loop makes, with errno turned into `RedisClientError`s.
/// Every call returns at once: the loop waits for readiness with poll(2), never in a call.
struct NonBlockingSocket {
    let fd: Int32

    enum ConnectProgress { case connected, inProgress }

    /// A socket whose connect has started. Running out of descriptors or socket memory is this
    /// process's exhaustion, not a fault of the server.
    static func connect(to address: SocketAddress) throws(RedisClientError) -> (NonBlockingSocket, ConnectProgress) {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw error("socket") }
        // The last descriptors below the limit stay free for what must not fail for want of one
        // (libdispatch's worker monitor aborts the process when it cannot open /proc files).
        guard cshim_within_descriptor_reserve(fd) == 0 else {
            Glibc.close(fd)
            errno = EMFILE
            throw error("socket")
        }
        let socket = NonBlockingSocket(fd: fd)
        if address.family != AF_UNIX {
            var on: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, socklen_t(MemoryLayout<Int32>.size))
        }
        let status = address.withSockaddr { Glibc.connect(fd, $0, $1) }
        if status == 0 { return (socket, .connected) }
        if errno == EINPROGRESS || errno == EINTR { return (socket, .inProgress) }
        let failure = error("connect")
        socket.close()
        throw failure
    }

    /// After poll reported the connecting socket writable: whether the connect succeeded.
    func connectResult() throws(RedisClientError) {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) == 0 else { throw Self.error("getsockopt") }
        if code != 0 {
            errno = code
            throw Self.error("connect")
        }
    }

    /// Bytes written, 0 when the socket buffer is full.
    func send(_ bytes: UnsafeRawBufferPointer) throws(RedisClientError) -> Int {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        while true {
            let sent = Glibc.send(fd, base, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            if sent >= 0 { return sent }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return 0 }
            throw Self.error("send")
        }
    }

    enum Received { case bytes(Int), wouldBlock, closed }

    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(RedisClientError) -> Received {
        while true {
            let count = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if count > 0 { return .bytes(count) }
            if count == 0 { return .closed }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return .wouldBlock }
            throw Self.error("recv")
        }
    }

    func close() { _ = Glibc.close(fd) }

    private static func error(_ call: String) -> RedisClientError {
        let code = errno
        let message = "\(call): \(String(cString: strerror(code)))"
        switch code {
        case ECONNREFUSED: return RedisClientError(.refused, message)
        case EMFILE, ENFILE, ENOBUFS, ENOMEM: return RedisClientError(.resourceExhausted, message)
        case ETIMEDOUT: return RedisClientError(.timeout, message)
        default: return RedisClientError(.io, message)
        }
    }
}
