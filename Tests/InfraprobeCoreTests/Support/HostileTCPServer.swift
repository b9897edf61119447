import Foundation
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// A loopback TCP server that misbehaves on purpose, below HTTP: each accepted connection runs
/// `behaviour` on its own thread (drip a byte a second, chunk forever, send endless headers,
/// answer plaintext to a TLS hello). Bounded: every connection ends after `lifetime`, and
/// `stop()` closes all sockets and waits for the threads.
final class HostileTCPServer: @unchecked Sendable {
    /// One accepted connection, as the behaviour sees it.
    final class Connection: @unchecked Sendable {
        let fd: Int32
        private let server: HostileTCPServer
        private let ends: ContinuousClock.Instant

        init(fd: Int32, server: HostileTCPServer, ends: ContinuousClock.Instant) {
            self.fd = fd
            self.server = server
            self.ends = ends
        }

        /// False once the server stops, the lifetime is over, or the peer has gone.
        var open: Bool { !server.stopped.current && ContinuousClock.now < ends }

        /// Reads up to the end of the request head (or whatever arrived within a second).
        @discardableResult
        func readRequestHead() -> String {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 16384)
            var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let start = ContinuousClock.now
            while open, ContinuousClock.now - start < .seconds(1), received.count < 1 << 20 {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n > 0 {
                    received += buffer[0..<n]
                    if received.count >= 4, received.suffix(4) == Array("\r\n\r\n".utf8) { break }
                    if received.first == 0x16 { break }  // a TLS ClientHello: nothing more comes unanswered
                } else if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) {
                    break
                }
            }
            let head = String(decoding: received, as: UTF8.self)
            server.heads.withLock { $0.append(head) }
            return head
        }

        /// Sends everything; false when the peer closed or the server stopped.
        @discardableResult
        func send(_ bytes: [UInt8]) -> Bool {
            var offset = 0
            while offset < bytes.count {
                guard open else { return false }
                let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }

        @discardableResult
        func send(_ text: String) -> Bool { send(Array(text.utf8)) }

        /// Sleeps in small steps so `stop()` is never kept waiting.
        func pause(_ duration: Duration) {
            let until = ContinuousClock.now + duration
            while open, ContinuousClock.now < until { usleep(20_000) }
        }
    }

    let port: UInt16
    private let listenFD: Int32
    fileprivate let stopped = Locked(false)
    private let liveConnections = Locked<Set<Int32>>([])
    private let runningThreads = Locked(0)
    /// Request heads received, in order (to check what a client sent, e.g. after a redirect).
    let heads = Locked<[String]>([])
    let accepted = Locked(0)

    init(lifetime: Duration = .seconds(10), _ behaviour: @escaping @Sendable (Connection) -> Void) {
        (listenFD, port) = RawSocket.bind(listen: true)
        _ = fcntl(listenFD, F_SETFL, fcntl(listenFD, F_GETFL) | O_NONBLOCK)
        runningThreads.withLock { $0 += 1 }
        let thread = Thread { [self] in
            defer { runningThreads.withLock { $0 -= 1 } }
            while !stopped.current {
                var poller = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 50) > 0 else { continue }
                let fd = accept(listenFD, nil, nil)
                guard fd >= 0 else { continue }
                accepted.withLock { $0 += 1 }
                liveConnections.withLock { _ = $0.insert(fd) }
                runningThreads.withLock { $0 += 1 }
                let connection = Connection(fd: fd, server: self, ends: .now + lifetime)
                let worker = Thread { [self] in
                    behaviour(connection)
                    liveConnections.withLock { _ = $0.remove(fd) }
                    close(fd)
                    runningThreads.withLock { $0 -= 1 }
                }
                worker.start()
            }
        }
        thread.start()
    }

    var url: String { "http://127.0.0.1:\(port)" }

    /// Closes every socket and waits (bounded) until each thread has returned.
    func stop() {
        stopped.withLock { $0 = true }
        liveConnections.withLock { fds in for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) } }
        for _ in 0..<250 where runningThreads.current > 0 { usleep(20_000) }
        close(listenFD)
    }

    func stopOffPool() async { await BlockingExecutor.shared.run { self.stop() } }

    deinit { if !stopped.current { stop() } }
}
