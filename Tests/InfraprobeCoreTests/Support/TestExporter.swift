import Foundation
@testable import InfraprobeCore

/// An exporter runtime on a free loopback port with the given config YAML (written to a temp file).
final class TestExporter: @unchecked Sendable {
    let runtime: ExporterRuntime
    let directory: URL
    let configFile: URL

    init(config yaml: String, configure: (inout ExporterRuntime.Settings) -> Void = { _ in }) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("infraprobe-exp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        configFile = directory.appendingPathComponent("infraprobe.yml")
        try yaml.write(to: configFile, atomically: true, encoding: .utf8)
        var settings = ExporterRuntime.Settings(configFile: configFile.path, listen: ListenAddress("127.0.0.1:0")!)
        settings.server.shutdownGrace = .seconds(5)
        configure(&settings)
        runtime = try ExporterRuntime(settings: settings)
        try runtime.start()
    }

    var port: UInt16 { runtime.server.port }
    var base: String { "http://127.0.0.1:\(port)" }

    func get(_ path: String, method: String = "GET", headers: [String: String] = [:]) async throws -> Fetched {
        let url = base + path
        return try await BlockingExecutor.shared.run { Result { try HTTPFetch.get(url, method: method, headers: headers) } }.get()
    }

    deinit {
        runtime.stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Counts connections a listener has accepted in its backlog, without blocking.
extension BlackHoleListener {
    func pendingConnections() -> Int {
        _ = fcntl(listenFD, F_SETFL, fcntl(listenFD, F_GETFL) | O_NONBLOCK)
        var count = 0
        while true {
            let fd = accept(listenFD, nil, nil)
            if fd < 0 { return count }
            close(fd)
            count += 1
        }
    }
}

func port(of url: String) -> Int { URLComponents(string: url)?.port ?? 0 }
