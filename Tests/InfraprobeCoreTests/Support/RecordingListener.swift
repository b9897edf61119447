import Foundation
@testable import InfraprobeCore

/// A loopback port that records the first bytes of every connection it accepts (an HTTP
/// request line and headers, or Redis commands), answers `404` to HTTP and `-ERR` to anything
/// else, and closes. It shows exactly what a prober sent and to which authority.
final class RecordingListener: @unchecked Sendable {
    let port: Int
    private let fd: Int32
    private let received = Locked<[String]>([])
    private let thread: Thread
    private let stopped = Locked(false)

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else { close(fd); throw TestFailure("cannot listen") }
        self.fd = fd
        port = FreePort.boundPort(fd)
        let received = self.received
        thread = Thread {
            while true {
                let connection = accept(fd, nil, nil)
                if connection < 0 { return }
                received.withLock { $0.append(Self.serve(connection)) }
            }
        }
        thread.start()
    }

    /// Everything received so far, one entry per connection.
    var connections: [String] { received.current }

    /// The request lines (`GET /path HTTP/1.1`) and Host headers of HTTP connections.
    var requestLines: [String] { connections.compactMap { $0.components(separatedBy: "\r\n").first } }
    var hostHeaders: [String] {
        connections.compactMap { connection in
            connection.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("host:") }
                .map { String($0.dropFirst(5)).trimmingCharacters(in: .whitespaces) }
        }
    }

    private static func serve(_ connection: Int32) -> String {
        defer { close(connection) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while data.count < 65536 {
            let count = read(connection, &buffer, buffer.count)
            if count <= 0 { break }
            data += buffer[0..<count]
            let text = String(decoding: data, as: UTF8.self)
            if !text.hasPrefix("*") && text.contains("\r\n\r\n") { break }
            if text.hasPrefix("*") && text.hasSuffix("\r\n") { break }
        }
        let text = String(decoding: data, as: UTF8.self)
        let answer = text.hasPrefix("*") ? "-ERR recording listener\r\n"
            : "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        _ = answer.withCString { write(connection, $0, strlen($0)) }
        return text
    }

    /// Stops accepting (the accept loop ends when the socket is shut down).
    func stop() {
        let first = stopped.withLock { stopped in defer { stopped = true }; return !stopped }
        guard first else { return }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    deinit { stop() }
}
