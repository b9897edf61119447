import Foundation
@testable import InfraprobeCore

/// A real `redis-server` on a free loopback port, started for one test as a direct child
/// (`--daemonize no`) that dies with the test process, and stopped by pid.
final class RedisServer: @unchecked Sendable {
    private(set) var port: Int
    let directory: URL
    private var process: ChildProcess?
    private let extraArguments: [String]

    init(_ extraArguments: [String] = []) throws {
        port = try FreePort.pick()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("infraprobe-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.extraArguments = extraArguments
        // A port picked free can be taken (by a client's ephemeral port, in a parallel run)
        // before redis-server binds it: then take another.
        for _ in 0..<4 {
            do { try start(); return } catch let failure as TestFailure where failure.description.contains("Address already in use") {
                port = try FreePort.pick()
            }
        }
        try start()
    }

    var address: String { "127.0.0.1:\(port)" }
    var pid: pid_t { process?.pid ?? 0 }

    func start(_ moreArguments: [String] = []) throws {
        let arguments = ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--daemonize", "no", "--dir", directory.path,
                         "--logfile", directory.appendingPathComponent("redis.log").path] + extraArguments + moreArguments
        let child = try ChildProcess.spawn("/usr/bin/redis-server", arguments)
        process = child
        for _ in 0..<500 {
            if canConnect() { return }
            if let status = child.status { throw TestFailure("redis-server exited with \(status): \(log)") }
            usleep(2_000)
        }
        throw TestFailure("redis-server did not come up on port \(port)")
    }

    private var log: String { (try? String(contentsOf: directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? "" }

    private func canConnect() -> Bool {
        let connection = RedisConnection.open(to: .tcp(host: "127.0.0.1", port: port), deadline: .after(.milliseconds(200)))
        defer { connection.close() }
        return (try? connection.connected(before: .after(.milliseconds(200))).wait()) != nil
    }

    /// Runs a command on a side connection (setup/inspection, not the code under test).
    @discardableResult
    func command(_ arguments: [String], password: String? = nil) throws -> RedisValue {
        let connection = RedisConnection.open(to: .tcp(host: "127.0.0.1", port: port), deadline: .after(.seconds(2)))
        defer { connection.close() }
        if let password { _ = try connection.send([["AUTH", password]], before: .after(.seconds(2))).wait() }
        return try connection.send([arguments], before: .after(.seconds(5))).wait()[0]
    }

    /// SIGKILL (after SIGCONT, in case a test stopped it) and reap: its port is closed on return.
    func stop() {
        guard let process else { return }
        process.signal(SIGCONT)
        process.killAndWait()
        self.process = nil
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
