import Foundation
import Testing
@testable import InfraprobeCore

@Suite("Configuration")
struct ConfigTests {
    func expectError(_ yaml: String, line: Int?, key: String, containing text: String,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        guard let error = expectConfigError(yaml, line: line, key: key, containing: text, sourceLocation: sourceLocation) else { return }
        #expect(error.description.hasPrefix("test.yml"), sourceLocation: sourceLocation)
    }

    @Test func test_config_readsTargetsInOrder_withDefaults() throws {
        let config = try Probe.config("""
        timeout: 7s
        targets:
          b-cache:
            prober: redis
            address: 10.0.0.1:6380
            timeout: 1500ms
            components: [memory_usage, service_running]
          a-main:
            prober: redis
            address: localhost
        """)
        #expect(config.targets.map(\.name) == ["b-cache", "a-main"])
        #expect(config.targets[0].timeout == .milliseconds(1500))
        #expect(config.targets[0].components == ["service_running", "memory_usage"])
        #expect(config.targets[1].timeout == .seconds(7))
        #expect(config.targets[1].components == RedisProber.descriptor.componentNames)
    }

    @Test func test_config_rejectsUnknownKey_namingLineAndKey() {
        expectError("""
        targets:
          main:
            prober: redis
            address: 127.0.0.1:6379
            pasword: typo
        """, line: 5, key: "targets.main.pasword", containing: "unknown key")
    }

    @Test func test_config_rejectsMissingAddress() {
        expectError("targets:\n  main:\n    prober: redis\n", line: 3, key: "targets.main.address", containing: "is required")
    }

    @Test func test_config_pointsAtTypo_whenRequiredKeyMissing() {
        expectError("targets:\n  x:\n    prober: redis\n    adress: h:1\n", line: 4, key: "targets.x.adress",
                    containing: "did you mean \"address\"")
    }

    @Test func test_config_rejectsBadDuration() {
        expectError("timeout: 10 seconds\n", line: 1, key: "timeout", containing: "expected a duration")
    }

    @Test func test_config_rejectsUnknownProberAndComponent() {
        expectError("targets:\n  m:\n    prober: mongo\n", line: 3, key: "targets.m.prober", containing: "unknown prober \"mongo\"")
        expectError("targets:\n  m:\n    prober: redis\n    address: h:1\n    components: [pings]\n",
                    line: 5, key: "targets.m.components", containing: "unknown component \"pings\"")
    }

    @Test func test_config_reportsYAMLSyntaxErrorLine() {
        expectError("targets:\n  m:\n    prober: redis\n   address: [\n", line: 4, key: "", containing: "invalid YAML")
    }

    @Test func test_config_rejectsPasswordAndPasswordFileTogether() {
        expectError("targets:\n  m:\n    prober: redis\n    address: h:1\n    password: x\n    password_file: /p\n",
                    line: 6, key: "targets.m.password_file", containing: "not both")
    }

    @Test func test_config_readsSecretFile_andNeverShowsIt() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "hunter2\n".write(to: directory.appendingPathComponent("redis.pass"), atomically: true, encoding: .utf8)
        let config = try Probe.config("""
        targets:
          m:
            prober: redis
            address: h:1
            password_file: redis.pass
          n:
            prober: redis
            address: h:2
            password: inline-secret
        """, directory: directory)
        let prober = try #require(config.targets[0].prober as? RedisProber)
        #expect(prober.login.password?.value == "hunter2")
        let yaml = config.redactedYAML()
        #expect(!yaml.contains("hunter2") && !yaml.contains("inline-secret"))
        #expect(yaml.contains("password: <secret>") || yaml.contains("password: \"<secret>\""))
        #expect("\(prober.login.password!)" == "<secret>")
    }

    @Test func test_config_reportsUnreadableSecretFile() {
        expectError("targets:\n  m:\n    prober: redis\n    address: h:1\n    password_file: /nonexistent/pass\n",
                    line: 5, key: "targets.m.password_file", containing: "cannot read secret file")
    }

    @Test func test_durationParser_acceptsPrometheusStyle() {
        #expect(DurationParser.parse("10s") == .seconds(10))
        #expect(DurationParser.parse("500ms") == .milliseconds(500))
        #expect(DurationParser.parse("1m30s") == .seconds(90))
        #expect(DurationParser.parse("1.5s") == .milliseconds(1500))
        #expect(DurationParser.parse("10") == nil)
        #expect(DurationParser.parse("s") == nil)
    }

    @Test func test_redisAddress_parsesForms() {
        #expect(RedisAddress("10.0.0.1:6380") == .tcp(host: "10.0.0.1", port: 6380))
        #expect(RedisAddress("cache") == .tcp(host: "cache", port: 6379))
        #expect(RedisAddress("[::1]:7000") == .tcp(host: "::1", port: 7000))
        #expect(RedisAddress("unix:/run/redis.sock") == .unix(path: "/run/redis.sock"))
        #expect(RedisAddress("h:0") == nil)
        #expect(RedisAddress("h:1:2") == nil)
    }
}

@Suite("Probe deadline")
struct DeadlineTests {
    @Test func test_deadline_usesScrapeTimeoutMinusOffset_cappedByTargetTimeout() throws {
        let offset = Duration.milliseconds(500)
        #expect(try Deadline.probeTimeout(targetTimeout: .seconds(10), scrapeTimeoutHeader: "5", offset: offset) == .milliseconds(4500))
        #expect(try Deadline.probeTimeout(targetTimeout: .seconds(2), scrapeTimeoutHeader: "5", offset: offset) == .seconds(2))
        #expect(try Deadline.probeTimeout(targetTimeout: .seconds(10), scrapeTimeoutHeader: nil, offset: offset) == .seconds(10))
        #expect(try Deadline.probeTimeout(targetTimeout: .seconds(10), scrapeTimeoutHeader: "1.5", offset: offset) == .seconds(1))
    }

    @Test func test_deadline_halvesHeader_whenAtOrBelowOffset() throws {
        let offset = Duration.milliseconds(500)
        #expect(try Deadline.probeTimeout(targetTimeout: .seconds(10), scrapeTimeoutHeader: "0.5", offset: offset) == .milliseconds(250))
        #expect(try Deadline.probeTimeout(targetTimeout: .seconds(10), scrapeTimeoutHeader: "0.4", offset: offset) == .milliseconds(200))
    }

    @Test func test_stepTimes_formatAsMicrosecondSeconds() {
        #expect(ComponentRunner.formatSeconds(.microseconds(1_234_567)) == "1.234567s")
        #expect(ComponentRunner.formatSeconds(.microseconds(42)) == "0.000042s")
        #expect(ComponentRunner.formatSeconds(.zero - .seconds(1)) == "0.000000s")
    }

    @Test func test_deadlineTimer_firesAtDeadline_andNotWhenCancelled() async throws {
        let fired = Locked<[String]>([])
        let cancelled = DeadlineTimer.shared.schedule(at: .now + .milliseconds(30)) { fired.withLock { $0.append("cancelled") } }
        DeadlineTimer.shared.schedule(at: .now + .milliseconds(60)) { fired.withLock { $0.append("late") } }
        DeadlineTimer.shared.schedule(at: .now + .milliseconds(20)) { fired.withLock { $0.append("early") } }
        DeadlineTimer.shared.cancel(cancelled)
        try await Task.sleep(for: .milliseconds(300))
        #expect(fired.current == ["early", "late"])
    }

    @Test("a scrape-timeout header that is present but no usable number is a bad request, never a trap",
          arguments: ["1e21", "1e400", "soon", "-1", "0", "-0", "NaN", "nan", "inf", "+Inf", "", "   ",
                      "31536001", String(repeating: "9", count: 400), "0x10", "5\u{1B}[2J"])
    func test_scrapeTimeoutHeader_rejectsOutOfRangeOrGarbage(_ header: String) {
        #expect(throws: ScrapeTimeout.Invalid.self) { try ScrapeTimeout.parse(header: header) }
        #expect(throws: ScrapeTimeout.Invalid.self) {
            try Deadline.probeTimeout(targetTimeout: .seconds(3), scrapeTimeoutHeader: header, offset: .zero)
        }
    }

    @Test func test_scrapeTimeoutHeader_acceptsLargestAllowedValue_andAbsentHeader() throws {
        #expect(try ScrapeTimeout.parse(header: nil) == nil)
        #expect(try ScrapeTimeout.parse(header: " 31536000 ") == .seconds(31_536_000))
        #expect(try Deadline.probeTimeout(targetTimeout: .seconds(3), scrapeTimeoutHeader: "31536000", offset: .milliseconds(500)) == .seconds(3))
    }

    @Test func test_scrapeTimeoutInvalid_describesValueWithControlCharactersEscaped() {
        let message = ScrapeTimeout.Invalid(value: "5\u{1B}[2J\n").description
        #expect(message.contains("5\\e[2J\\n"), "\(message)")
        #expect(!message.unicodeScalars.contains { $0.value < 0x20 })
    }

    @Test func test_durationMilliseconds_saturatesInsteadOfTrapping() {
        #expect(Duration.seconds(Int64.max).milliseconds == .max)
        #expect((Duration.zero - .seconds(Int64.max)).milliseconds == .min)
        #expect(Duration.seconds(2).milliseconds == 2000)
        #expect(Duration.seconds(Int64.max).microseconds == .max)
        #expect(Duration.microseconds(1_234_567).microseconds == 1_234_567)
        #expect(ComponentRunner.formatSeconds(.seconds(Int64.max)).hasSuffix("s"))
        #expect(HTTPEndpoint.ms(.seconds(Int64.max)).hasSuffix(" ms"))
        #expect(HTTPEndpoint.ms(.microseconds(12_345)) == "12.3 ms")
    }
}
