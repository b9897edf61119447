import Foundation
import Testing
@testable import InfraprobeCore

/// A config file a person edits by hand, or an attacker plants: whatever it holds, a reload keeps
/// the running config (its targets still probe), sets `infraprobe_config_last_reload_successful`
/// to 0, names file:line:key, and answers within a bound; `--config.check` refuses it too.
/// Serialized: forty exporters and binaries starting at once would starve the parallel suites
/// of CPU.
@Suite("Bad config reloads", .serialized)
struct BadConfigReloadTests {
    /// One bad file: what to write next to the config (FIFOs, big files) and the config text.
    struct BadConfig: Sendable, CustomTestStringConvertible {
        let name: String
        /// The config text, given the directory it lives in and a working Redis address.
        let yaml: @Sendable (URL, String) throws -> String
        /// Expected in the error after the file path, e.g. `5: targets.flaky.db: must be between`.
        let location: String

        var testDescription: String { name }
    }

    static func target(_ address: String, _ lines: String...) -> String {
        "targets:\n  flaky:\n    prober: redis\n    address: \(address)\n" + lines.map { "    \($0)\n" }.joined()
    }

    /// Ten levels of nine aliases, 800 bytes on disk: 9^10 (3.5 billion) nodes once expanded.
    /// The last one is a mapping key, which Yams hashes (expanding it) to look for duplicates.
    static let aliasBomb: String = {
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]
        var lines = ["a: &a [\(Array(repeating: "\"lol\"", count: 9).joined(separator: ","))]"]
        for (previous, name) in zip(names, names.dropFirst()) {
            lines.append("\(name): &\(name) [\(Array(repeating: "*\(previous)", count: 9).joined(separator: ","))]")
        }
        return lines.joined(separator: "\n") + "\n? *j\n: lol\n"
    }()

    static func fifo(in directory: URL) throws -> String {
        let path = directory.appendingPathComponent("password.fifo").path
        guard mkfifo(path, 0o600) == 0 || errno == EEXIST else { throw TestFailure("mkfifo: errno \(errno)") }
        return path
    }

    static let cases: [BadConfig] = [
        BadConfig(name: "syntax error", yaml: { _, _ in "targets: [\n" }, location: "2: invalid YAML"),
        BadConfig(name: "alias bomb", yaml: { _, _ in aliasBomb }, location: "7: g: aliases expand to more than"),
        BadConfig(name: "10 MB file", yaml: { _, address in
            target(address) + "# " + String(repeating: String(repeating: "x", count: 1 << 10), count: 10 << 10) + "\n"
        }, location: " cannot read the config file: it is larger than 1 MiB"),
        BadConfig(name: "nested 200 deep", yaml: { _, address in
            target(address, "labels: " + String(repeating: "[", count: 200) + String(repeating: "]", count: 200))
        }, location: "5: targets.flaky.labels: nested deeper than 64 levels"),
        BadConfig(name: "duplicate key", yaml: { _, address in target(address, "address: 127.0.0.1:1") },
                  location: "5: targets.flaky.address: duplicate key (first at line 4)"),
        BadConfig(name: "duplicate target", yaml: { _, address in target(address) + "  flaky:\n    prober: redis\n" },
                  location: "5: targets.flaky: duplicate key (first at line 2)"),
        BadConfig(name: "db out of range", yaml: { _, address in target(address, "db: 16") },
                  location: "5: targets.flaky.db: must be between 0 and 15"),
        BadConfig(name: "db with 30 digits", yaml: { _, address in target(address, "db: 999999999999999999999999999999") },
                  location: "5: targets.flaky.db: expected an integer"),
        BadConfig(name: "ratio above 1", yaml: { _, address in target(address, "max_memory_ratio: 2") },
                  location: "5: targets.flaky.max_memory_ratio: must be between"),
        BadConfig(name: "ratio infinite", yaml: { _, address in target(address, "max_memory_ratio: 1e400") },
                  location: "5: targets.flaky.max_memory_ratio: expected a number"),
        BadConfig(name: "port out of range", yaml: { _, _ in target("127.0.0.1:70000") },
                  location: "4: targets.flaky.address: expected host:port"),
        BadConfig(name: "timeout of two hours", yaml: { _, address in target(address, "timeout: 2h") },
                  location: "5: targets.flaky.timeout: must be between 1ms and 3600s"),
        BadConfig(name: "timeout past Int64 milliseconds", yaml: { _, address in target(address, "timeout: 99999999999999999999999h") },
                  location: "5: targets.flaky.timeout: must be between 1ms and 3600s"),
        BadConfig(name: "negative default timeout", yaml: { _, address in "timeout: -1s\n" + target(address) },
                  location: "1: timeout: expected a duration"),
        BadConfig(name: "consul peers zero", yaml: { _, _ in "targets:\n  c:\n    prober: consul\n    url: http://127.0.0.1:1\n    expected_peers: 0\n" },
                  location: "5: targets.c.expected_peers: must be between 1 and 99"),
        BadConfig(name: "password_file is a FIFO", yaml: { directory, address in
            target(address, "password_file: \(try fifo(in: directory))")
        }, location: "5: targets.flaky.password_file: cannot read secret file"),
        BadConfig(name: "password_file is a directory", yaml: { directory, address in
            target(address, "password_file: \(directory.path)")
        }, location: "5: targets.flaky.password_file: cannot read secret file"),
        BadConfig(name: "password_file is /dev/zero", yaml: { _, address in target(address, "password_file: /dev/zero") },
                  location: "5: targets.flaky.password_file: cannot read secret file /dev/zero: it is a character device"),
        BadConfig(name: "password_file of 1 MiB", yaml: { directory, address in
            let path = directory.appendingPathComponent("huge.pass")
            try String(repeating: String(repeating: "p", count: 1 << 10), count: 1 << 10).write(to: path, atomically: true, encoding: .utf8)
            return target(address, "password_file: \(path.path)")
        }, location: "5: targets.flaky.password_file: cannot read secret file"),
        BadConfig(name: "tls ca_file is a FIFO", yaml: { directory, _ in
            "targets:\n  g:\n    prober: grafana\n    url: https://127.0.0.1:1\n    tls:\n      ca_file: \(try fifo(in: directory))\n"
        }, location: "6: targets.g.tls.ca_file: cannot read"),
    ]

    @Test(arguments: cases)
    func test_reload_keepsOldConfig_setsMetricZero_andNamesFileLineKey(_ bad: BadConfig) async throws {
        let redis = try await RedisServer.make()
        let exporter = try TestExporter(config: Self.target(redis.address))
        #expect(try await exporter.get("/probe?target=flaky").text.contains("probe_success{target=\"flaky\"} 1"))

        try bad.yaml(exporter.directory, redis.address).write(to: exporter.configFile, atomically: false, encoding: .utf8)
        let start = ContinuousClock.now
        let answer = try await exporter.get("/-/reload", method: "POST")
        let elapsed = ContinuousClock.now - start
        #expect(answer.status == 500)
        #expect(answer.text.contains("\(exporter.configFile.path):\(bad.location)"), "\(answer.text.prefix(500))")
        #expect(elapsed < .seconds(2), "the reload took \(elapsed)")
        #expect(try await exporter.get("/metrics").text.contains("infraprobe_config_last_reload_successful 0"))
        let probe = try await exporter.get("/probe?target=flaky")
        #expect(probe.text.contains("probe_success{target=\"flaky\"} 1"), "the old config keeps probing")
        #expect(exporter.runtime.service.config.targets.map(\.name) == ["flaky"])
    }

    @Test(arguments: cases)
    func test_configCheck_refusesBadConfig_quickly(_ bad: BadConfig) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("infraprobe-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("bad.yml")
        try bad.yaml(directory, "127.0.0.1:1").write(to: file, atomically: false, encoding: .utf8)
        let start = ContinuousClock.now
        let (status, output) = try await BlockingExecutor.shared.run {
            Result { try SpawnedExporter.run(["--config.file", file.path, "--config.check"]) }
        }.get()
        let elapsed = ContinuousClock.now - start
        #expect(status == 1)
        #expect(output.contains("\(file.path):\(bad.location)"), "\(output.prefix(500))")
        #expect(elapsed < .seconds(5), "--config.check took \(elapsed)")
    }

    @Test func test_sighup_withFIFOPasswordFileOrAliasBomb_keepsServing() async throws {
        let redis = try await RedisServer.make()
        let configFile = redis.directory.appendingPathComponent("hostile.yml")
        try Self.target(redis.address).write(to: configFile, atomically: true, encoding: .utf8)
        let exporter = try await BlockingExecutor.shared.run {
            Result { try SpawnedExporter(configFile: configFile.path, directory: redis.directory) }
        }.get()
        defer { exporter.stop() }
        let base = exporter.base
        func get(_ path: String) async throws -> String {
            try await BlockingExecutor.shared.run { Result { try HTTPFetch.get(base + path, maxTime: 5).text } }.get()
        }
        let fifo = try Self.fifo(in: redis.directory)
        for (yaml, location) in [(Self.target(redis.address, "password_file: \(fifo)"), "5: targets.flaky.password_file: cannot read secret file"),
                                 (Self.aliasBomb, "7: g: aliases expand to more than")] {
            // A good reload first, so the metric's 0 below comes from this file.
            try Self.target(redis.address).write(to: configFile, atomically: true, encoding: .utf8)
            exporter.signal(SIGHUP)
            #expect(try await Self.waitFor(within: .seconds(2)) { try await get("/metrics").contains("infraprobe_config_last_reload_successful 1") })
            try yaml.write(to: configFile, atomically: true, encoding: .utf8)
            exporter.signal(SIGHUP)
            #expect(try await Self.waitFor(within: .seconds(2)) { try await get("/metrics").contains("infraprobe_config_last_reload_successful 0") },
                    "no failed reload within 2 s")
            #expect(exporter.log.contains("\(configFile.path):\(location)"), "\(exporter.log.suffix(1000))")
            #expect(try await get("/probe?target=flaky").contains("probe_success{target=\"flaky\"} 1"), "the old config keeps probing")
            #expect(exporter.process.isRunning)
        }
    }

    @Test func test_webConfig_refusesAliasBombFIFOAndHugeFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("infraprobe-web-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fifo = try Self.fifo(in: directory)
        let file = directory.appendingPathComponent("web.yml")
        let cases: [(String, String)] = [
            (Self.aliasBomb, "7: g: aliases expand to more than"),
            ("basic_auth_users:\n  alice: x\n  alice: y\n", "3: basic_auth_users.alice: duplicate key"),
            ("tls_server_config:\n  cert_file: \(fifo)\n  key_file: \(fifo)\n", "2: tls_server_config.cert_file: cannot read \(fifo): it is a FIFO"),
            ("tls_server_config:\n  cert_file: /dev/zero\n  key_file: /dev/zero\n", "2: tls_server_config.cert_file: cannot read /dev/zero: it is a character device"),
            ("# " + String(repeating: String(repeating: "x", count: 1 << 10), count: 10 << 10), " cannot read the web config file: it is larger than 1 MiB"),
        ]
        for (yaml, location) in cases {
            try yaml.write(to: file, atomically: false, encoding: .utf8)
            let start = ContinuousClock.now
            #expect { try WebConfig.load(file: file.path) } throws: { "\($0)".contains("\(file.path):\(location)") }
            #expect(ContinuousClock.now - start < .seconds(1))
        }
    }

    @Test func test_parse_refusesYAMLOver1MiB_givenAsText() {
        let yaml = "targets: {}\n# " + String(repeating: String(repeating: "x", count: 1 << 10), count: 1 << 10)
        #expect { try Probe.config(yaml) } throws: { "\($0)" == "test.yml: cannot read the config: it is larger than 1 MiB" }
        #expect { try WebConfig.parse(yaml: yaml, file: "web.yml", baseDirectory: URL(fileURLWithPath: "/tmp")) } throws: {
            "\($0)" == "web.yml: cannot read the config: it is larger than 1 MiB"
        }
    }

    static func waitFor(within limit: Duration, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }
}
