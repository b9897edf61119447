import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes
import TestRunSettings

/// The harness itself: parallel runs are bounded so tests do not starve what they test, and a
/// test run killed with SIGKILL (a CI timeout, a ^C'd terminal, an OOM kill) leaves no
/// redis-server or infraprobe process behind: the harness starts them so they die with it.
@Suite("Test harness")
struct TestHarnessTests {
    @Test func test_parallelRun_isBounded_evenWhenTheCallerSetsNoWidth() {
        // swift test sets no width; the harness's constructor did, before swift-testing read it.
        #expect(infraprobe_test_parallelization_width() > 0)
    }

    static let pidFileVariable = "INFRAPROBE_TEST_KILL_PID_FILE"
    static let testBinary: String = {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return repo.appendingPathComponent(".build/debug/infraprobePackageTests.xctest").path
    }()

    /// Run only inside the test binary that the test below starts and kills: it starts the
    /// servers a test would, writes their pids, and waits to be killed.
    @Test(.enabled(if: ProcessInfo.processInfo.environment[Self.pidFileVariable] != nil))
    func test_killedRun_child_startsServersAndWaits() async throws {
        let pidFile = try #require(ProcessInfo.processInfo.environment[Self.pidFileVariable])
        let redis = try await RedisServer.make()
        let config = redis.directory.appendingPathComponent("child.yml")
        try "targets:\n  r:\n    prober: redis\n    address: \(redis.address)\n".write(to: config, atomically: true, encoding: .utf8)
        let exporter = try await BlockingExecutor.shared.run {
            Result { try SpawnedExporter(configFile: config.path, directory: redis.directory) }
        }.get()
        let consul = FakeConsul()
        try consul.start()
        try "\(redis.pid) \(exporter.process.pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        try await Task.sleep(for: .seconds(60))
        Issue.record("the parent test should have killed this run")
    }

    @Test func test_killedTestRun_leavesNoServerProcessesBehind() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("infraprobe-kill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let pidFile = directory.appendingPathComponent("pids").path
        let log = try FileHandle(forWritingTo: { let url = directory.appendingPathComponent("run.log")
            _ = FileManager.default.createFile(atPath: url.path, contents: nil); return url }())
        let run = try ChildProcess.spawn(Self.testBinary, ["--testing-library", "swift-testing", "--filter", "test_killedRun_child_startsServersAndWaits"],
                                         output: log, environment: [Self.pidFileVariable: pidFile])
        try? log.close()
        var pids: [pid_t] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while pids.isEmpty && ContinuousClock.now < deadline && run.isRunning {
            try await Task.sleep(for: .milliseconds(50))
            pids = ((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? "").split(separator: " ").compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        let runLog = (try? String(contentsOf: directory.appendingPathComponent("run.log"), encoding: .utf8)) ?? ""
        try #require(pids.count == 2, "the child run did not start its servers:\n\(runLog.suffix(2000))")
        #expect(pids.allSatisfy(Self.isAlive), "the servers run while the test does")
        #expect(pids.allSatisfy { Self.parent(of: $0) == run.pid }, "the servers are the test process's own children")

        run.signal(SIGKILL)
        #expect(run.wait() == 128 + SIGKILL)
        let gone = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < gone && (pids.contains(where: Self.isAlive) || !Self.processes(markedWith: run.pid).isEmpty) {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(!pids.contains(where: Self.isAlive), "still running after the test process was killed: \(pids.filter(Self.isAlive))")
        #expect(Self.processes(markedWith: run.pid).isEmpty)
    }

    /// Alive and not a zombie (a zombie holds no port and waits only for its reaper).
    static func isAlive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)...].prefix(1)
        return state != "Z" && state != "X"
    }

    static func parent(of pid: pid_t) -> pid_t? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("PPid:") }) else { return nil }
        return pid_t(line.dropFirst(5).trimmingCharacters(in: .whitespaces))
    }

    /// Live processes whose environment (redis-server overwrites its own with its title) says `parent` started them through `ChildProcess`.
    static func processes(markedWith parent: pid_t) -> [pid_t] {
        let marker = Array("\(ChildProcess.markerVariable)=\(parent)".utf8)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(pid_t.init).filter { pid in
            guard isAlive(pid), let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
            return environ.split(separator: 0).contains { Array($0) == marker }
        }
    }
}
