import Foundation
@testable import InfraprobeCore

/// The built `infraprobe` binary (.build/debug/infraprobe) run as a child process, for what
/// only a real process shows: its log output, signals, the CLI.
final class SpawnedExporter: @unchecked Sendable {
    static let binary: String = {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return repo.appendingPathComponent(".build/debug/infraprobe").path
    }()

    let process = Process()
    let port: Int
    let logFile: URL

    init(configFile: String, arguments: [String] = [], directory: URL) throws {
        port = try FreePort.pick()
        logFile = directory.appendingPathComponent("infraprobe-\(port).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: logFile)
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["--config.file", configFile, "--web.listen-address", "127.0.0.1:\(port)"] + arguments
        process.standardOutput = log
        process.standardError = log
        try process.run()
        for _ in 0..<300 {
            if (try? HTTPFetch.get("http://127.0.0.1:\(port)/-/healthy", maxTime: 1))?.status == 200 { return }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        throw TestFailure("infraprobe did not start: \(log)")
    }

    var base: String { "http://127.0.0.1:\(port)" }
    var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// SIGTERM, then wait (bounded) for exit; returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        signal(SIGTERM)
        for _ in 0..<250 where process.isRunning { usleep(20_000) }
        if process.isRunning { signal(SIGKILL); process.waitUntilExit() }
        return process.terminationStatus
    }

    /// Runs the binary once (e.g. `check`) and returns (status, stdout + stderr).
    static func run(_ arguments: [String]) throws -> (Int32, String) {
        let (status, out, err) = try Shell.capture(binary, arguments)
        return (status, out + err)
    }

    deinit { stop() }
}
