import Foundation
import CShims
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// The process's fixed budget: a constant number of threads however many HTTP targets are
/// probed at once, at most two descriptors held per target, and running out of descriptors
/// reported as `resource_exhausted`, never blamed on the service. Each test runs the built
/// binary as its own process, so its threads and descriptors are the exporter's alone.
@Suite("Process budget: threads and descriptors of the exporter", .serialized)
struct ProcessBudgetTests {
    static let threadBudget = 64
    static let targets = 300

    /// Named Grafana targets, all served by one fake (distinct names, so no probe joins another).
    static func grafanaTargets(_ count: Int, url: String, token: String) -> String {
        "targets:\n" + (0..<count).map { "  g\($0): {prober: grafana, url: \"\(url)\", token: \(token), timeout: 20s}\n" }.joined()
    }

    static func makeDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("infraprobe-budget-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func test_probingThreeHundredHTTPTargetsAtOnce_staysWithinSixtyFourThreads_andTwoDescriptorsPerTarget() async throws {
        let grafana = FakeGrafana(token: "budget-token")
        try grafana.start()
        defer { grafana.stop() }
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("infraprobe.yml")
        try Self.grafanaTargets(Self.targets, url: grafana.url, token: "budget-token").write(to: config, atomically: true, encoding: .utf8)
        // Above the default 40 concurrent probe requests, so all 300 probes do run at once.
        // Spawning waits for the port: off the cooperative pool, which timing tests running
        // alongside need (it has one thread per core).
        let exporter = try await BlockingExecutor.shared.run {
            Result { try SpawnedExporter(configFile: config.path, arguments: ["--web.max-requests", "\(Self.targets + 100)"], directory: directory) }
        }.get()
        defer { exporter.stop() }
        let pid = exporter.process.pid

        let peak = Locked((threads: 0, descriptors: 0))
        let sampling = Task.detached {
            while !Task.isCancelled {
                let threads = ProcessStats.threads(pid), descriptors = ProcessStats.descriptors(pid)
                peak.withLock { $0 = (max($0.threads, threads), max($0.descriptors, descriptors)) }
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        let client = HTTPClient()
        let results = await withTaskGroup(of: (Int, String).self) { group in
            for index in 0..<Self.targets {
                group.addTask {
                    let result = await client.send(HTTPClientRequest(url: exporter.base + "/probe?target=g\(index)", deadline: .after(.seconds(60))))
                    guard case .response(let response) = result else { return (0, "\(result)") }
                    return (response.status, response.text)
                }
            }
            return await group.reduce(into: [(Int, String)]()) { $0.append($1) }
        }
        sampling.cancel()
        _ = await sampling.value

        #expect(results.count == Self.targets)
        let answered = results.filter { $0.0 == 200 }
        #expect(answered.count == Self.targets, "non-200 answers: \(results.filter { $0.0 != 200 }.prefix(3))")
        let failed = answered.filter { $0.1.range(of: #"probe_success\{target="g\d+"\} 1"#, options: .regularExpression) == nil }
        #expect(failed.isEmpty, "\(failed.count) probes failed, e.g.: \(failed.first?.1.split(separator: "\n").filter { $0.contains("failure_info{") }.prefix(3) ?? [])")
        let (threads, descriptors) = peak.current
        #expect(threads > 0 && threads <= Self.threadBudget, "peak threads \(threads) while probing \(Self.targets) targets at once")
        // Held once the answers are in: the cached connections to the targets and the kept-alive
        // ones from the client. (At the peak every probe's components also had their requests
        // in flight at once: \(descriptors) descriptors.)
        let held = ProcessStats.descriptors(pid)
        #expect(held > 0 && held <= 2 * Self.targets, "\(held) descriptors held for \(Self.targets) targets (peak \(descriptors))")
        #expect(ProcessStats.threads(pid) <= Self.threadBudget)
    }

    @Test func test_httpProbe_reportsResourceExhausted_notConnectionRefused_whenTheExporterIsOutOfDescriptors() async throws {
        let closed = ClosedPort()
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("infraprobe.yml")
        try "targets:\n  g: {prober: grafana, url: \"http://127.0.0.1:\(closed.port)\", token: t, timeout: 5s}\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let exporter = try await BlockingExecutor.shared.run { Result { try SpawnedExporter(configFile: config.path, directory: directory) } }.get()
        defer { exporter.stop() }
        // One kept-alive connection to the exporter carries both probes, so the second needs no
        // new descriptor on the exporter's side to be asked and answered.
        let client = HTTPClient()
        func probe() async throws -> String {
            try await client.send(HTTPClientRequest(url: exporter.base + "/probe?target=g", deadline: .after(.seconds(15)))).get().text
        }
        func reasons(_ text: String) -> Set<String> {
            Set(text.split(separator: "\n").filter { $0.hasPrefix("infraprobe_component_failure_info{") }.compactMap { line in
                line.range(of: #"reason="[a-z_]+""#, options: .regularExpression).map { String(line[$0].dropFirst(8).dropLast()) }
            })
        }
        let refused = try await probe()
        // The first request's component fails; the ones that need it fail as dependency_failed.
        #expect(reasons(refused) == ["connection_refused", "dependency_failed"], "\(refused)")

        // The limit drops to a few descriptors above the lowest free one: socket() still succeeds,
        // but the exporter refuses a socket that takes the last free descriptors (libdispatch's
        // worker monitor needs one, and crashes the process without it) and reports EMFILE.
        let pid = exporter.process.pid
        let open = Set((try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")).compactMap(Int.init))
        let lowestFree = (0...).first { !open.contains($0) }!
        let limit = lowestFree + 8
        #expect(8 < CSHIM_DESCRIPTOR_RESERVE)
        #expect(open.filter { $0 >= limit }.isEmpty, "descriptors above the new limit: \(open.sorted())")
        let (status, _, error) = try Shell.capture("/usr/bin/prlimit", ["--pid", "\(pid)", "--nofile=\(limit):\(limit)"])
        #expect(status == 0, "prlimit: \(error)")

        let exhausted = try await probe()
        #expect(exhausted.contains(#"probe_success{target="g"} 0"#), "\(exhausted)")
        let exhaustedReasons = reasons(exhausted)
        #expect(exhaustedReasons.contains("resource_exhausted") && exhaustedReasons.isSubset(of: ["resource_exhausted", "dependency_failed"]), "\(exhausted)")
    }
}
