import Foundation
@testable import InfraprobeCore

/// The built `infraprobe` binary (.build/debug/infraprobe) run as a child process, for what
/// only a real process shows: its log output, signals, the CLI. It dies with the test process.
final class SpawnedExporter: @unchecked Sendable {
    static let binary: String = {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return repo.appendingPathComponent(".build/debug/infraprobe").path
    }()

    private(set) var process: ChildProcess
    private(set) var port: Int
    private(set) var logFile: URL

    /// `launcher` runs first and execs the exporter (e.g. `prlimit --nofile=40:40`).
    init(configFile: String, arguments: [String] = [], directory: URL, launcher: [String] = []) throws {
        // A port picked free can be taken before the exporter binds it (by a client's ephemeral
        // port, in a parallel run): then the exporter exits at once, and another port is tried.
        var attempt = 0
        while true {
            attempt += 1
            port = try FreePort.pick()
            logFile = directory.appendingPathComponent("infraprobe-\(port).log")
            _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
            let log = try FileHandle(forWritingTo: logFile)
            let command = launcher + [Self.binary, "--config.file", configFile, "--web.listen-address", "127.0.0.1:\(port)"] + arguments
            process = try ChildProcess.spawn(command[0], Array(command.dropFirst()), output: log)
            try? log.close()
            for _ in 0..<300 {
                if (try? HTTPFetch.get("http://127.0.0.1:\(port)/-/healthy", maxTime: 1))?.status == 200 { return }
                guard process.isRunning else { break }
                usleep(20_000)
            }
            guard attempt < 4, !process.isRunning, self.log.contains("cannot listen on") else { break }
        }
        throw TestFailure("infraprobe did not start: \(self.log)")
    }

    var base: String { "http://127.0.0.1:\(port)" }
    var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    func signal(_ number: Int32) { process.signal(number) }

    /// SIGTERM, then wait (bounded) for exit; returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if let status = process.status { return status }
        signal(SIGTERM)
        for _ in 0..<250 where process.isRunning { usleep(20_000) }
        if process.isRunning { process.killAndWait() }
        return process.wait()
    }

    /// Runs the binary once (e.g. `check`) and returns (status, stdout + stderr).
    static func run(_ arguments: [String]) throws -> (Int32, String) {
        let (status, out, err) = try Shell.capture(binary, arguments)
        return (status, out + err)
    }

    deinit { stop() }
}
