import CShims
import Glibc

/// An epoll(7) interest set: the Redis loop's sockets stay registered between waits, so a wait
/// costs the sockets that are ready, not every open one (poll(2) over 10,000 idle pooled
/// connections spent most of the loop's time scanning them). Level-triggered, like poll; the
/// event bits are poll's (EPOLLIN == POLLIN and so on on Linux).
final class EpollSet {
    private let fd: Int32
    private var buffer: [epoll_event]

    init(capacity: Int = 256) {
        fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { fatalError("cannot create an epoll set: errno \(errno)") }
        buffer = Array(repeating: epoll_event(), count: capacity)
    }

    deinit { close(fd) }

    /// Registers `socket` for `events`, or changes what it is registered for. A closed socket
    /// leaves the set by itself, so a reused number may be new to it, or still in it. `once`:
    /// reported by one wait only, then silent until watched again (EPOLLONESHOT), for a
    /// condition that stays true once it happens, such as the peer's hang-up.
    /// `registered`: the caller watched this very socket before, so a change is tried first
    /// (one call instead of a refused add and a change).
    func watch(_ socket: Int32, events: Int16, once: Bool = false, registered: Bool = false) {
        var event = epoll_event()
        event.events = UInt32(UInt16(bitPattern: events)) | (once ? UInt32(EPOLLONESHOT.rawValue) : 0)
        event.data.fd = socket
        if registered {
            if epoll_ctl(fd, EPOLL_CTL_MOD, socket, &event) == 0 || errno != ENOENT { return }
            _ = epoll_ctl(fd, EPOLL_CTL_ADD, socket, &event)
        } else if epoll_ctl(fd, EPOLL_CTL_ADD, socket, &event) != 0 && errno == EEXIST {
            _ = epoll_ctl(fd, EPOLL_CTL_MOD, socket, &event)
        }
    }

    /// Before the socket is closed: its number may be reused by the next socket opened.
    func unwatch(_ socket: Int32) {
        var event = epoll_event()
        _ = epoll_ctl(fd, EPOLL_CTL_DEL, socket, &event)
    }

    /// Waits up to `milliseconds` (0: not at all) and hands each ready socket and its events to
    /// `ready`, from a buffer kept between waits: a wakeup allocates nothing.
    func wait(milliseconds: Int32, _ ready: (_ fd: Int32, _ events: Int16) -> Void) {
        let count = buffer.withUnsafeMutableBufferPointer { events in
            epoll_wait(fd, events.baseAddress, Int32(events.count), milliseconds)
        }
        guard count > 0 else { return }
        for index in 0..<Int(count) {
            ready(buffer[index].data.fd, Int16(truncatingIfNeeded: buffer[index].events))
        }
    }
}
