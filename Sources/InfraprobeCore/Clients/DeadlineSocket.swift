import Foundation

/// Sends and receives on a connected socket with one deadline for the whole exchange: every
/// wait is a poll(2) for what is left of it, so a peer that drips a byte at a time cannot
/// stretch the exchange the way a per-read socket timeout lets it.
struct DeadlineSocket {
    let fd: Int32

    func send(_ bytes: [UInt8], before deadline: ContinuousClock.Instant) throws(RedisClientError) {
        var offset = 0
        while offset < bytes.count {
            try wait(for: Int16(POLLOUT), before: deadline, doing: "sending")
            let sent = bytes.withUnsafeBytes { raw in
                Foundation.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            }
            if sent < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { continue }
                throw Self.ioError("send")
            }
            offset += sent
        }
    }

    /// Reads what has arrived (at least one byte) into `buffer`; returns the count.
    func receive(into buffer: UnsafeMutableRawBufferPointer, before deadline: ContinuousClock.Instant) throws(RedisClientError) -> Int {
        while true {
            try wait(for: Int16(POLLIN), before: deadline, doing: "waiting for the reply")
            let count = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if count > 0 { return count }
            if count == 0 { throw RedisClientError(.closed, "server closed the connection") }
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { continue }
            throw Self.ioError("recv")
        }
    }

    private func wait(for events: Int16, before deadline: ContinuousClock.Instant, doing what: String) throws(RedisClientError) {
        while true {
            let left = deadline - .now
            guard left > .zero else { throw RedisClientError(.timeout, "deadline passed while \(what)") }
            // Round up so the last poll does not wake just before the deadline and spin.
            let millis = Int32(clamping: left.milliseconds + 1)
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&entry, 1, millis)
            if ready > 0 { return }  // readable, writable, or an error/hangup the next call reports
            if ready < 0 && errno != EINTR { throw Self.ioError("poll") }
        }
    }

    private static func ioError(_ call: String) -> RedisClientError {
        let code = errno
        let message = "\(call): \(String(cString: strerror(code)))"
        return RedisClientError(code == ECONNREFUSED ? .refused : .io, message)
    }
}
