import Foundation
@testable import InfraprobeCore

/// Raw TCP clients against an exporter, for floods: every connection sends `payload`, either
/// whole or a byte per `trickle` interval (then an endless header value, slowloris style), and
/// records the status of any answer. Bounded: `connections` sockets at most, for `duration`
/// at most, on a thread of its own; `finish()` closes every socket.
final class SocketFlood: @unchecked Sendable {
    enum Mode: Sendable {
        /// Send the payload at once and wait for the answer.
        case request
        /// Send one byte per interval, forever (the payload, then `a`s).
        case trickle(Duration)
    }

    struct Outcome: Sendable {
        var statuses: [Int: Int] = [:]
        /// Connections the server closed without an answer.
        var closedByServer = 0
        var opened = 0
        func count(_ status: Int) -> Int { statuses[status] ?? 0 }
        var answered: Int { statuses.values.reduce(0, +) }
    }

    private struct Slot {
        var fd: Int32
        var sent = 0
        var lastSend = ContinuousClock.now - .seconds(3600)
        var received: [UInt8] = []
    }

    let port: Int
    let connections: Int
    let payload: [UInt8]
    let mode: Mode
    /// Open a new connection whenever the server closes one (after `pause`, which keeps a
    /// request flood from taking every core of the machine the tests share).
    let reconnect: Bool
    let pause: Duration
    let duration: Duration
    private let stopFlag = Locked(false)
    private let result = Locked(Outcome())
    private let done = DispatchSemaphore(value: 0)

    init(port: Int, connections: Int, payload: String, mode: Mode, reconnect: Bool, pause: Duration = .zero, duration: Duration) {
        self.port = port
        self.connections = connections
        self.payload = Array(payload.utf8)
        self.mode = mode
        self.reconnect = reconnect
        self.pause = pause
        self.duration = duration
    }

    func start() {
        let thread = Thread { [self] in
            run()
            done.signal()
        }
        thread.name = "socket-flood"
        thread.start()
    }

    /// Stops (if still running), closes every socket and returns what happened.
    @discardableResult
    func finish() -> Outcome {
        stopFlag.withLock { $0 = true }
        done.wait()
        return result.current
    }

    /// Waits for the flood to end by itself (its duration, or every connection answered).
    @discardableResult
    func wait() -> Outcome {
        done.wait()
        return result.current
    }

    var outcome: Outcome { result.current }

    private func run() {
        let end = ContinuousClock.now + duration
        var slots: [Slot?] = Array(repeating: nil, count: connections)
        var everOpened = Array(repeating: false, count: connections)
        var reopenAt = Array(repeating: ContinuousClock.now, count: connections)
        defer { for slot in slots { if let slot { close(slot.fd) } } }
        while ContinuousClock.now < end && !stopFlag.current {
            if !reconnect && everOpened.allSatisfy({ $0 }) && slots.allSatisfy({ $0 == nil }) { return }
            let openTime = ContinuousClock.now
            for index in slots.indices where slots[index] == nil && (reconnect || !everOpened[index]) && reopenAt[index] <= openTime {
                guard let fd = Self.connect(port: port) else { continue }
                slots[index] = Slot(fd: fd)
                everOpened[index] = true
                result.withLock { $0.opened += 1 }
            }
            let now = ContinuousClock.now
            for index in slots.indices {
                guard var slot = slots[index] else { continue }
                switch mode {
                case .request:
                    while slot.sent < payload.count {
                        let sent = payload[slot.sent...].withUnsafeBytes { send(slot.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                        if sent <= 0 { break }
                        slot.sent += sent
                    }
                case .trickle(let interval):
                    if now - slot.lastSend >= interval {
                        var byte = slot.sent < payload.count ? payload[slot.sent] : UInt8(ascii: "a")
                        if send(slot.fd, &byte, 1, Int32(MSG_NOSIGNAL)) == 1 {
                            slot.sent += 1
                            slot.lastSend = now
                        }
                    }
                }
                slots[index] = slot
            }
            var polls = slots.compactMap { $0.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) } }
            _ = poll(&polls, nfds_t(polls.count), 20)
            let ready = Set(polls.filter { $0.revents != 0 }.map(\.fd))
            for index in slots.indices {
                guard var slot = slots[index], ready.contains(slot.fd) else { continue }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let count = recv(slot.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if count > 0 {
                    slot.received += buffer.prefix(count)
                    if let status = Self.status(slot.received) {
                        result.withLock { $0.statuses[status, default: 0] += 1 }
                        close(slot.fd)
                        slots[index] = nil
                        reopenAt[index] = ContinuousClock.now + pause
                        continue
                    }
                    slots[index] = slot
                } else if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) {
                    result.withLock { $0.closedByServer += 1 }
                    close(slot.fd)
                    slots[index] = nil
                    reopenAt[index] = ContinuousClock.now + pause
                }
            }
        }
    }

    /// The status code once the status line is complete.
    private static func status(_ bytes: [UInt8]) -> Int? {
        guard let end = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let line = String(decoding: bytes[..<end], as: UTF8.self).split(separator: " ")
        guard line.count >= 2 else { return nil }
        return Int(line[1])
    }

    private static func connect(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 || errno == EINPROGRESS else { close(fd); return nil }
        return fd
    }
}
