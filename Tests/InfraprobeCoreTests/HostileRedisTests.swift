import Foundation
import Testing
@testable import InfraprobeCore

/// The Redis prober against a server that answers with broken or malicious RESP. Each case
/// gives the right reason within the probe deadline, and afterwards the client has closed
/// every socket, no blocking thread is still busy, and memory has not grown by more than a
/// few replies' worth (the reader's limit is 128 KiB per reply).
@Suite("Redis prober against a hostile server", .serialized)
struct HostileRedisTests {
    /// Of our own, so its threads are only this suite's (other suites run in parallel).
    let executor = BlockingExecutor(maxThreads: 32, maxQueued: 4096, idleTimeout: 1)
    /// Of our own too, so the loop that runs these probes runs no other suite's.
    static let loop = RedisEventLoop()
    let deadline: Duration = .seconds(1)
    /// Time the runner and the last poll may take beyond the deadline on a loaded machine.
    let lateness: Duration = .milliseconds(300)

    func target(_ server: HostileRedisServer) throws -> TargetSpec {
        let environment = ProberEnvironment(instanceID: "test", executor: executor,
                                            redisPools: RedisPools(loop: Self.loop, resolver: executor))
        let config = try ConfigLoader(environment: environment).parse(
            yaml: "targets:\n  hostile:\n    prober: redis\n    address: \(server.address)\n",
            file: "test.yml", baseDirectory: FileManager.default.temporaryDirectory)
        return try #require(config.targets.first)
    }

    struct Outcome {
        let result: TargetProbeResult
        let elapsed: Duration
    }

    /// Probes once and checks the resources came back; the caller checks the reason.
    func probe(_ behavior: HostileRedisServer.Behavior, deadline: Duration? = nil,
               sourceLocation: SourceLocation = #_sourceLocation) async throws -> Outcome {
        let server = try HostileRedisServer(behavior)
        defer { server.stop() }
        let limit = deadline ?? self.deadline
        let before = ProcessResources.now()
        let started = ContinuousClock.now
        let result = await ComponentRunner.run(target: try target(server), deadline: .after(limit), environment: Probe.environment)
        let elapsed = ContinuousClock.now - started
        #expect(elapsed <= limit + lateness, "answered after the deadline: \(elapsed)", sourceLocation: sourceLocation)
        #expect(await server.waitUntilAllClosed(within: lateness),
                "\(server.openConnections) connections still open after the probe", sourceLocation: sourceLocation)
        #expect(await waitUntilIdle(), "\(executor.busy) blocking threads still busy after the probe", sourceLocation: sourceLocation)
        let after = ProcessResources.now()
        if ProcessResources.comparable {
            #expect(after.residentBytes - before.residentBytes < 64 << 20, "memory grew: \(before) → \(after)", sourceLocation: sourceLocation)
        }
        return Outcome(result: result, elapsed: elapsed)
    }

    func waitUntilIdle() async -> Bool {
        let end = ContinuousClock.now + lateness
        while executor.busy > 0 {
            if ContinuousClock.now >= end { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func test_redisProbe_reportsProtocol_whenServerSendsAbsurdBulkLength() async throws {
        let outcome = try await probe(.stream(prefix: Self.bytes("$4294967296\r\n"), filler: UInt8(ascii: "a")))
        let failure = try #require(outcome.result.component("service_running")?.failure)
        #expect(failure.reason == .protocol, "\(failure)")
        #expect(failure.message.contains("string of 4294967296 bytes, over the limit of 131072 bytes"), "\(failure)")
        #expect(outcome.elapsed < deadline / 2, "buffered a string it should have refused: \(outcome.elapsed)")
        // Not a dependency of the others: each component saw the same and said so.
        for component in outcome.result.components {
            #expect(component.failure?.reason == .protocol, "\(component.component): \(String(describing: component.failure))")
        }
    }

    @Test func test_redisProbe_reportsProtocol_whenServerSendsBulkLengthNearInt64Max() async throws {
        // hiredis 0.14 overflows `len + 2` here and would copy LLONG_MAX bytes.
        let outcome = try await probe(.reply(Self.bytes("$9223372036854775807\r\nabc\r\n")))
        #expect(outcome.result.reason("service_running") == .protocol, "\(outcome.result.failureSummary)")
    }

    @Test func test_redisProbe_reportsProtocol_atOnce_whenServerDeclaresHugeArray() async throws {
        let outcome = try await probe(.reply(Self.bytes("*2147483647\r\n")))
        let failure = try #require(outcome.result.component("service_running")?.failure)
        #expect(failure.reason == .protocol, "\(failure)")
        #expect(failure.message.contains("2147483647 elements"), "\(failure)")
        #expect(outcome.elapsed < deadline / 2, "waited for elements it should have refused: \(outcome.elapsed)")
    }

    @Test func test_redisProbe_reportsProtocol_whenArraysTogetherDeclareTooManyElements() async throws {
        // Each array alone is under the limit of 2048 elements per reply; the two together are not.
        let outcome = try await probe(.reply(Self.bytes("*2\r\n*1500\r\n" + String(repeating: ":1\r\n", count: 1500) + "*1500\r\n")))
        let failure = try #require(outcome.result.component("service_running")?.failure)
        #expect(failure.reason == .protocol, "\(failure)")
        #expect(failure.message.contains("array of 1500 elements, over the limit of 2048"), "\(failure)")
    }

    @Test(arguments: ["$-2\r\n", "*-5\r\n", "$-9223372036854775808\r\n", "*99999999999999999999\r\n", ":12x\r\n"])
    func test_redisProbe_reportsProtocol_whenServerSendsInvalidLength(_ reply: String) async throws {
        let outcome = try await probe(.reply(Self.bytes(reply)))
        #expect(outcome.result.reason("service_running") == .protocol, "\(outcome.result.failureSummary)")
        #expect(outcome.elapsed < deadline / 2)
    }

    @Test func test_redisProbe_reportsProtocol_whenServerNestsArraysDeeply() async throws {
        let outcome = try await probe(.reply(Self.bytes(String(repeating: "*1\r\n", count: 100) + ":1\r\n")))
        #expect(outcome.result.reason("service_running") == .protocol, "\(outcome.result.failureSummary)")
    }

    @Test func test_redisProbe_reportsProtocol_whenReplyLineNeverEnds() async throws {
        let outcome = try await probe(.stream(prefix: Self.bytes("+"), filler: UInt8(ascii: "P")))
        for component in outcome.result.components {
            let failure = try #require(component.failure)
            #expect(failure.reason == .protocol, "\(component.component): \(failure)")
            #expect(failure.message.contains("line runs past 16384 bytes"), "\(failure)")
        }
        #expect(outcome.elapsed < deadline / 2, "spent the deadline on one line: \(outcome.elapsed)")
    }

    @Test func test_redisProbe_reportsTimeout_atTheDeadline_whenServerDripsBytes() async throws {
        // A byte every 20 ms: each read gets one long before any per-read timeout would fire.
        let outcome = try await probe(.drip(Self.bytes("+PONG PONG "), interval: .milliseconds(20)))
        #expect(outcome.result.reason("service_running") == .timeout, "\(outcome.result.failureSummary)")
        #expect(outcome.elapsed >= deadline - .milliseconds(50))
    }

    @Test func test_redisProbe_reportsTimeout_whenServerAcceptsButNeverAnswers() async throws {
        let outcome = try await probe(.silent)
        #expect(outcome.result.reason("service_running") == .timeout, "\(outcome.result.failureSummary)")
        #expect(outcome.result.reason("basic_operations") == .dependencyFailed)
    }

    @Test func test_redisProbe_reportsTheMatchingReason_whenServerSendsRandomBytes() async throws {
        var generator = SeededGenerator(seed: 0x5eed)
        for round in 0..<12 {
            var bytes = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
            // Half the rounds start like a reply, so the parser gets past the first byte.
            if round % 2 == 1 { bytes[0] = Array("+-:$*".utf8)[round / 2 % 5] }
            let outcome = try await probe(.reply(bytes), deadline: .milliseconds(500))
            let expected = Self.reasonForServiceRunning(bytes)
            #expect(outcome.result.reason("service_running") == expected,
                    "round \(round) (first byte \(bytes[0])): \(outcome.result.failureSummary)")
        }
    }

    /// What RESP says about these bytes as the answer to service_running's PING + INFO: not
    /// RESP → protocol; fewer than two complete replies → still waiting at the deadline;
    /// two replies that are not PONG and INFO → unexpected_response.
    static func reasonForServiceRunning(_ bytes: [UInt8]) -> FailureReason? {
        let reader = RedisReplyReader()
        do {
            try reader.feed(bytes)
            guard let ping = try reader.next() else { return .timeout }
            guard try reader.next() != nil else { return .timeout }
            return ping == .status("PONG") ? nil : .unexpectedResponse
        } catch {
            return .protocol
        }
    }

    /// A load test of the whole process (2,000 probes on one loop in a debug build): it runs in
    /// the pass where the test process has the machine to itself (scripts/test), where its
    /// thread, file and memory comparisons hold too; beside ~8 other suites on two cores its
    /// wave times measure them, not the prober.
    @Test(.enabled(if: ProcessResources.comparable, "runs with the test process alone (INFRAPROBE_TEST_PROCESS_ALONE=1)"),
          arguments: [false, true])
    func test_redisProbes_leaveThreadsFdsAndMemoryWhereTheyWere_after2000ProbesOfAHungServer(drip: Bool) async throws {
        let server = try HostileRedisServer(drip ? .drip(Self.bytes("$5\r\nPONG"), interval: .milliseconds(50)) : .silent)
        defer { server.stop() }
        let target = try target(server)
        let deadline: Duration = .milliseconds(250)
        let before = ProcessResources.now()
        var peakThreads = 0, peakBlocking = 0
        var reasons: [FailureReason?: Int] = [:]
        for _ in 0..<10 {  // 10 scrape waves of 200 concurrent probes
            // Started and awaited on the prober's executor, as ProbeService does for a scrape,
            // so the wave's time is the prober's, not that of a cooperative pool other suites load.
            let (results, elapsed) = await withTaskExecutorPreference(target.prober.executorPreference) {
                let started = ContinuousClock.now
                let results = await (0..<200).concurrentMap(maxConcurrent: 200) { _ in
                    await ComponentRunner.run(target: target, deadline: .after(deadline), environment: Probe.environment)
                }
                return (results, ContinuousClock.now - started)
            }
            #expect(elapsed <= deadline + lateness, "a wave answered late: \(elapsed)")
            for result in results { reasons[result.reason("service_running"), default: 0] += 1 }
            peakThreads = max(peakThreads, ProcessResources.now().threads)
            peakBlocking = max(peakBlocking, executor.threads)
        }
        #expect(reasons == [.timeout: 2000], "\(reasons)")
        #expect(peakBlocking <= executor.maxThreads)
        #expect(await server.waitUntilAllClosed(within: lateness), "\(server.openConnections) connections left open")
        #expect(await waitUntilIdle())
        let after = ProcessResources.now()
        if ProcessResources.comparable {
            #expect(peakThreads <= before.threads + executor.maxThreads + 4, "threads peaked at \(peakThreads): \(before) → \(after)")
            #expect(after.openFiles <= before.openFiles + 4, "\(before) → \(after)")
            #expect(after.residentBytes - before.residentBytes < 64 << 20, "\(before) → \(after)")
        }
    }
}

/// A small deterministic generator (SplitMix64), so a failing round can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}
