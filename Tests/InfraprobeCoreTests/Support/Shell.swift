import Foundation
@testable import InfraprobeCore

/// Runs a short-lived program (curl, promtool, openssl) and collects what it prints.
///
/// On posix_spawn directly, not Foundation's `Process`: on Linux, `Process.run` lists
/// /proc/self/fd and copies each entry's full 256-byte `d_name`, reading past the end of the
/// directory buffer, so with a thousand descriptors open (the flood suites) it crashed the test
/// process now and then. glibc's posix_spawn also clones without copying the address space, so
/// spawning from a large test process costs no copy-on-write faults.
enum Shell {
    /// Runs a program and returns (status, stdout, stderr); status is 128 + signal if it was killed.
    static func capture(_ path: String, _ arguments: [String], input: String? = nil) throws -> (Int32, String, String) {
        _ = ignoringBrokenPipes
        var toChild: [Int32] = [-1, -1], fromChild: [Int32] = [-1, -1], errorsFromChild: [Int32] = [-1, -1]
        // Every child this process spawns closes descriptors from 3 up, so these need no O_CLOEXEC.
        guard pipe(&toChild) == 0 else { throw TestFailure("pipe: errno \(errno)") }
        guard pipe(&fromChild) == 0, pipe(&errorsFromChild) == 0 else {
            let failure = errno
            (toChild + fromChild + errorsFromChild).filter { $0 >= 0 }.forEach { close($0) }
            throw TestFailure("pipe: errno \(failure)")
        }
        let pid: pid_t
        do {
            pid = try spawn(path, arguments, stdin: toChild[0], stdout: fromChild[1], stderr: errorsFromChild[1])
        } catch {
            (toChild + fromChild + errorsFromChild).forEach { close($0) }
            throw error
        }
        [toChild[0], fromChild[1], errorsFromChild[1]].forEach { close($0) }
        let (out, err) = exchange(input: Array((input ?? "").utf8), stdin: toChild[1], stdout: fromChild[0], stderr: errorsFromChild[0])
        return (waitForExit(pid), String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    /// The same, from async code: on a dedicated thread, so the wait never occupies a thread of
    /// the cooperative pool that the servers and probes under test run on.
    static func captureOffPool(_ path: String, _ arguments: [String], input: String? = nil) async throws -> (Int32, String, String) {
        try await BlockingExecutor.shared.run { Result { try capture(path, arguments, input: input) } }.get()
    }

    /// A child that exits before reading all its input must fail our write, not kill the test
    /// process (the exporter ignores SIGPIPE the same way).
    private static let ignoringBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module
    /// does not declare: the child closes every descriptor from 3 up, whatever this process has open.
    private static let closeFrom: @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32 = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
            fatalError("glibc 2.34 or later is needed: posix_spawn_file_actions_addclosefrom_np is missing")
        }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    private static func spawn(_ path: String, _ arguments: [String], stdin: Int32, stdout: Int32, stderr: Int32) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        guard closeFrom(&actions, 3) == 0 else { throw TestFailure("posix_spawn_file_actions_addclosefrom_np failed") }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child starts with default signal handling and nothing blocked, whatever this
        // process ignores (SIGPIPE) or masks.
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let status = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard status == 0 else { throw TestFailure("cannot start \(path): errno \(status)") }
        return pid
    }

    /// Writes `input` and reads both outputs at once, so a child that fills one pipe while we
    /// wait on another cannot deadlock.
    private static func exchange(input: [UInt8], stdin: Int32, stdout: Int32, stderr: Int32) -> ([UInt8], [UInt8]) {
        var out: [UInt8] = [], err: [UInt8] = []
        var written = 0
        var writer: Int32 = stdin
        if input.isEmpty { close(writer); writer = -1 } else { _ = fcntl(writer, F_SETFL, fcntl(writer, F_GETFL) | O_NONBLOCK) }
        var readers: [Int32] = [stdout, stderr]
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while !readers.isEmpty || writer >= 0 {
            var polled = readers.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if writer >= 0 { polled.append(pollfd(fd: writer, events: Int16(POLLOUT), revents: 0)) }
            guard poll(&polled, nfds_t(polled.count), -1) >= 0 || errno == EINTR else { break }
            for entry in polled where entry.revents != 0 {
                if entry.fd == writer {
                    let count = input.withUnsafeBytes { write(writer, $0.baseAddress! + written, input.count - written) }
                    if count > 0 { written += count }
                    if written == input.count || (count < 0 && errno != EAGAIN && errno != EINTR) { close(writer); writer = -1 }
                    continue
                }
                let count = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress!, $0.count) }
                if count > 0 {
                    if entry.fd == stdout { out += buffer[..<count] } else { err += buffer[..<count] }
                } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                    close(entry.fd)
                    readers.removeAll { $0 == entry.fd }
                }
            }
        }
        return (out, err)
    }

    private static func waitForExit(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
