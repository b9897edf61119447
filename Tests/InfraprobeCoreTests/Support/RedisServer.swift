import Foundation
@testable import InfraprobeCore

/// A real `redis-server` on a free loopback port, started for one test and stopped by pid.
final class RedisServer: @unchecked Sendable {
    let port: Int
    let directory: URL
    private(set) var pid: pid_t = 0
    private let extraArguments: [String]

    init(_ extraArguments: [String] = []) throws {
        port = try FreePort.pick()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("infraprobe-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.extraArguments = extraArguments
        try start()
    }

    var address: String { "127.0.0.1:\(port)" }

    func start(_ moreArguments: [String] = []) throws {
        let pidFile = directory.appendingPathComponent("redis.pid").path
        try? FileManager.default.removeItem(atPath: pidFile)
        let arguments = ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--daemonize", "yes", "--pidfile", pidFile, "--dir", directory.path,
                         "--logfile", directory.appendingPathComponent("redis.log").path] + extraArguments + moreArguments
        let status = try Shell.run("/usr/bin/redis-server", arguments)
        guard status == 0 else { throw TestFailure("redis-server exited with \(status)") }
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let value = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                pid = value
                if canConnect() { return }
            }
            usleep(10_000)
        }
        throw TestFailure("redis-server did not come up on port \(port)")
    }

    private func canConnect() -> Bool {
        (try? RedisConnection.connect(to: .tcp(host: "127.0.0.1", port: port), timeout: .milliseconds(200))) != nil
    }

    /// Runs a command on a side connection (setup/inspection, not the code under test).
    @discardableResult
    func command(_ arguments: [String], password: String? = nil) throws -> RedisValue {
        let connection = try RedisConnection.connect(to: .tcp(host: "127.0.0.1", port: port), timeout: .seconds(2))
        defer { connection.close() }
        if let password { _ = try connection.command(["AUTH", password], timeout: .seconds(2)) }
        return try connection.command(arguments, timeout: .seconds(5))
    }

    func stop() {
        guard pid > 0 else { return }
        kill(pid, SIGCONT)
        kill(pid, SIGKILL)
        // The daemon is not our child, so it may linger as a zombie: wait for its port to close instead.
        for _ in 0..<200 where canConnect() { usleep(10_000) }
        pid = 0
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A TCP listener that completes handshakes (kernel backlog) but never reads or answers: a black hole.
final class BlackHoleListener: @unchecked Sendable {
    let port: Int
    private let fd: Int32
    var listenFD: Int32 { fd }

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else { throw TestFailure("cannot listen") }
        port = FreePort.boundPort(fd)
    }

    var address: String { "127.0.0.1:\(port)" }

    deinit { close(fd) }
}

enum FreePort {
    static func pick() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestFailure("cannot bind") }
        return boundPort(fd)
    }

    static func boundPort(_ fd: Int32) -> Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum Shell {
    /// Runs a program to completion (posix_spawn + waitpid: Foundation's Process can miss the exit
    /// of a child that daemonizes); returns its exit status.
    @discardableResult
    static func run(_ path: String, _ arguments: [String]) throws -> Int32 {
        var pid: pid_t = 0
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        // Keep the child from inheriting fds beyond stdio: redis-server daemonizes and would
        // otherwise hold the write ends of pipes that concurrent Shell.capture calls read to EOF
        // (which hung the suite). closefrom for posix_spawn is not importable here, so mark
        // every open fd close-on-exec just before spawning.
        for fd in Int32(3)..<Int32(4096) where fcntl(fd, F_GETFD) >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let spawned = posix_spawn(&pid, path, nil, nil, argv, environ)
        guard spawned == 0 else { throw TestFailure("cannot start \(path): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return (status >> 8) & 0xff
    }

    /// Runs a program and returns (status, stdout, stderr).
    static func capture(_ path: String, _ arguments: [String], input: String? = nil) throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inPipe
        try process.run()
        if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
        try? inPipe.fileHandleForWriting.close()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }
}
