import Foundation
@testable import InfraprobeCore

/// A response fetched with the real curl command-line client.
struct Fetched {
    let status: Int
    let headers: [String: String]
    let body: Data
    var text: String { String(decoding: body, as: UTF8.self) }
}

enum HTTPFetch {
    /// Fetches on a dedicated thread: the server under test shares this process's cooperative
    /// pool (2 threads here), which a blocking curl call must not occupy.
    static func getOffPool(_ url: String, headers: [String: String] = [:]) async throws -> Fetched {
        try await BlockingExecutor.shared.run { Result { try get(url, headers: headers) } }.get()
    }

    static func get(_ url: String, method: String = "GET", headers: [String: String] = [:], maxTime: Double = 20) throws -> Fetched {
        let directory = FileManager.default.temporaryDirectory
        let id = UUID().uuidString
        let headerFile = directory.appendingPathComponent("h-\(id)"), bodyFile = directory.appendingPathComponent("b-\(id)")
        defer { try? FileManager.default.removeItem(at: headerFile); try? FileManager.default.removeItem(at: bodyFile) }
        var arguments = ["-s", "-S", "-X", method, "--max-time", "\(maxTime)", "-D", headerFile.path, "-o", bodyFile.path, "-w", "%{http_code}"]
        if method == "HEAD" { arguments = ["-s", "-S", "-I", "--max-time", "\(maxTime)", "-D", headerFile.path, "-o", bodyFile.path, "-w", "%{http_code}"] }
        for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
        arguments.append(url)
        let (_, out, err) = try Shell.capture("/usr/bin/curl", arguments)
        guard let status = Int(out) else { throw TestFailure("curl \(url): \(err)") }
        var parsed: [String: String] = [:]
        let rawHeaders = (try? String(contentsOf: headerFile, encoding: .utf8)) ?? ""
        for line in rawHeaders.split(whereSeparator: { $0 == "\r\n" || $0 == "\n" }) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            parsed[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Fetched(status: status, headers: parsed, body: (try? Data(contentsOf: bodyFile)) ?? Data())
    }
}

/// A timed fetch with curl: (response, seconds).
func timedFetch(_ url: String, headers: [String: String] = [:], maxTime: Double = 15) throws -> (Fetched, Double) {
    let start = ContinuousClock.now
    let response = try HTTPFetch.get(url, headers: headers, maxTime: maxTime)
    return (response, (ContinuousClock.now - start).seconds)
}
