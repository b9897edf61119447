import Foundation
@testable import InfraprobeCore

/// A throwaway PKI made with the openssl CLI: a CA, a server certificate for 127.0.0.1 signed
/// by it, a client certificate signed by it, and a self-signed client certificate it does not trust.
struct TLSFixtures {
    let directory: URL
    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("infraprobe-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try Self.openssl(["req", "-x509"] + ec + ["-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "2", "-subj", "/CN=infraprobe test CA"])
        try Self.openssl(["req"] + ec + ["-keyout", path("server.key"), "-out", path("server.csr"), "-subj", "/CN=127.0.0.1"])
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: path("san.ext"), atomically: true, encoding: .utf8)
        try Self.openssl(["x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial",
                          "-out", path("server.pem"), "-days", "2", "-extfile", path("san.ext")])
        try Self.openssl(["req"] + ec + ["-keyout", path("client.key"), "-out", path("client.csr"), "-subj", "/CN=prometheus"])
        try Self.openssl(["x509", "-req", "-in", path("client.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial",
                          "-out", path("client.pem"), "-days", "2"])
        try Self.openssl(["req", "-x509"] + ec + ["-keyout", path("rogue.key"), "-out", path("rogue.pem"), "-days", "2", "-subj", "/CN=rogue"])
    }

    private static func openssl(_ arguments: [String]) throws {
        let (status, _, err) = try Shell.capture("/usr/bin/openssl", arguments)
        guard status == 0 else { throw TestFailure("openssl \(arguments.first ?? ""): \(err)") }
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// One run of the curl CLI with arbitrary arguments (TLS options, credentials).
struct CurlResult {
    let exitCode: Int32
    let status: Int
    let headers: String
    let body: String
    let stderr: String
}

enum Curl {
    static func run(_ arguments: [String]) async throws -> CurlResult {
        try await BlockingExecutor.shared.run { Result { try runBlocking(arguments) } }.get()
    }

    static func runBlocking(_ arguments: [String]) throws -> CurlResult {
        let headerFile = FileManager.default.temporaryDirectory.appendingPathComponent("h-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: headerFile) }
        let (code, out, err) = try Shell.capture("/usr/bin/curl", ["-s", "-S", "--max-time", "5", "-D", headerFile.path, "-w", "\n%{http_code}"] + arguments)
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.last ?? "") ?? 0
        let body = lines.dropLast().joined(separator: "\n")
        let headers = (try? String(contentsOf: headerFile, encoding: .utf8)) ?? ""
        return CurlResult(exitCode: code, status: status, headers: headers, body: body, stderr: err)
    }

    /// A bcrypt hash made with libcrypt (cost 5 keeps tests fast).
    static func bcrypt(_ password: String) -> String {
        BasicAuth.crypt(password, setting: "$2b$05$abcdefghijklmnopqrstuu")!
    }
}

extension TLSFixtures {
    /// Runs openssl off the cooperative pool (the server under test shares it).
    static func make() async throws -> TLSFixtures {
        try await BlockingExecutor.shared.run { Result { try TLSFixtures() } }.get()
    }
}

extension RedisServer {
    /// Starts redis-server (a blocking spawn and wait) off the cooperative pool.
    static func make(_ arguments: [String] = []) async throws -> RedisServer {
        try await BlockingExecutor.shared.run { Result { try RedisServer(arguments) } }.get()
    }
}
