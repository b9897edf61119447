import CMicroHTTPD
import CShims
import Dispatch
import Glibc

/// The thread that drives one libmicrohttpd daemon started in epoll mode without an internal
/// thread: it waits on the daemon's epoll descriptor (and a wake-up eventfd of its own) for as
/// long as `MHD_get_timeout` allows, then lets `MHD_run` process what is ready, which never
/// blocks. Work that must not race MHD's loop (quiescing) runs on this thread between runs.
/// MHD started so has no inter-thread channel: whoever resumes a connection calls `wake()`.
///
/// Not MHD's internal thread: 0.9.75's internal epoll loop takes events 128 at a time and asks
/// again while a call returned 128, each time with the full timeout; when exactly a multiple of
/// 128 are ready, the last call blocks (up to the connection timeout) with the events it already
/// took unprocessed. A slowloris flood against a limit of 256 connections hung up all 256 at
/// once, and they stayed open until their timeout. `MHD_run` asks with a timeout of zero.
final class DaemonLoop: @unchecked Sendable {
    let daemon: OpaquePointer
    private let epollFD: Int32
    private let wakeFD: Int32
    private let work = Locked<[@Sendable (OpaquePointer) -> Void]>([])
    private let stopRequested = Locked(false)
    private let exited = DispatchSemaphore(value: 0)
    private var running = false

    /// Takes charge of `daemon`, which must have been started with MHD_USE_EPOLL and without
    /// MHD_USE_INTERNAL_POLLING_THREAD.
    init(daemon: OpaquePointer) throws {
        self.daemon = daemon
        epollFD = cshim_mhd_epoll_fd(daemon)
        wakeFD = cshim_eventfd()
        guard epollFD >= 0, wakeFD >= 0 else {
            if wakeFD >= 0 { close(wakeFD) }
            throw HTTPServerError(message: "cannot drive the HTTP daemon: no epoll descriptor or eventfd (errno \(errno))")
        }
    }

    deinit { close(wakeFD) }

    func start(name: String) {
        running = true
        NativeThread.start(name: name) { [self] in
            run()
            exited.signal()
        }
    }

    /// Runs `body` on the loop thread between two runs of the daemon, and waits for it.
    func perform<T: Sendable>(_ body: @escaping @Sendable (OpaquePointer) -> T) -> T {
        let result = Locked<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        work.withLock { $0.append { daemon in result.withLock { $0 = body(daemon) }; done.signal() } }
        wake()
        done.wait()
        return result.current!
    }

    /// Ends the loop thread and waits for it; the daemon is then the caller's to stop.
    func stop() {
        guard running else { return }
        running = false
        stopRequested.withLock { $0 = true }
        wake()
        exited.wait()
    }

    /// Without an internal thread libmicrohttpd has no wake-up channel of its own: after
    /// `MHD_resume_connection` (from any thread) the loop must be woken to write the answer.
    func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    private func run() {
        var fds = [pollfd(fd: epollFD, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        while true {
            var timeout: UInt64 = 0
            let milliseconds: Int32 = MHD_get_timeout(daemon, &timeout) == .YES ? Int32(clamping: timeout) : -1
            fds[0].revents = 0
            fds[1].revents = 0
            _ = poll(&fds, 2, milliseconds)
            if fds[1].revents != 0 {
                var count: UInt64 = 0
                _ = read(wakeFD, &count, 8)
            }
            for body in work.withLock({ pending -> [@Sendable (OpaquePointer) -> Void] in defer { pending = [] }; return pending }) {
                body(daemon)
            }
            if stopRequested.current { return }
            // MHD puts the listening socket back into its epoll set at the start of a run, once
            // it is below its connection limit; a run that closed connections at its end
            // (below the limit again) is followed at once by another, or the wait above would
            // not see new connections arrive.
            let before = cshim_mhd_connection_count(daemon)
            _ = MHD_run(daemon)
            if cshim_mhd_connection_count(daemon) < before { _ = MHD_run(daemon) }
        }
    }
}
