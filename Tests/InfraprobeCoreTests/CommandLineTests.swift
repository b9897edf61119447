import Testing
@testable import InfraprobeCore

/// The flags `infraprobe` reads: every value from the command line is range-checked, and a bad
/// one is refused with a message naming the flag (exit 64 in the binary).
@Suite("Command line")
struct CommandLineTests {
    func serve(_ arguments: [String]) throws -> ServeOptions {
        guard case .serve(let options) = try Invocation.parse(arguments) else { throw TestFailure("not serve: \(arguments)") }
        return options
    }

    func usageError(_ arguments: [String]) -> UsageError? {
        do { _ = try Invocation.parse(arguments); return nil } catch { return error }
    }

    @Test func test_noArguments_servesWithTheDocumentedDefaults() throws {
        let options = try serve([])
        #expect(options.configFile == "infraprobe.yml")
        #expect(options.listenAddress == ListenAddress(":10025"))
        #expect(options.maxRequests == 40 && options.maxConnections == 1024 && options.connectionTimeoutSeconds == 15)
        #expect(options.timeoutOffset == .milliseconds(500))
        #expect(options.janitorInterval == .seconds(600) && options.janitorMinimumAge == .seconds(900))
        #expect(!options.configCheck)
    }

    @Test func test_valuesAreRead_withSpaceOrEquals_andTheLastRepeatWins() throws {
        let options = try serve(["serve", "--config.file", "a.yml", "--web.max-requests=7", "--config.file=b.yml",
                                 "--probe.timeout-offset", "0.25", "--janitor.interval", "0", "--config.check"])
        #expect(options.configFile == "b.yml")
        #expect(options.maxRequests == 7)
        #expect(options.timeoutOffset == .milliseconds(250))
        #expect(options.janitorInterval == .zero)
        #expect(options.configCheck)
        #expect(try serve(["--config.check", "--no-config.check"]).configCheck == false)
    }

    @Test func test_check_keepsEveryTargetInOrder() throws {
        guard case .check(let options) = try Invocation.parse(["check", "--target", "b", "--target=a", "--format", "json", "--cleanup.wait", "1"]) else {
            Issue.record("not check")
            return
        }
        #expect(options.targets == ["b", "a"])
        #expect(options.format == .json)
        #expect(options.cleanupWait == 1)
    }

    @Test(arguments: [
        (["--web.max-requests", "abc"], "--web.max-requests: \"abc\" is not an integer"),
        (["--web.max-requests", "99999999999999999999999"], "--web.max-requests: \"99999999999999999999999\" is not an integer"),
        (["--web.max-requests", "0"], "--web.max-requests must be between 1 and"),
        (["--web.max-connections=-5"], "--web.max-connections must be between 1 and"),
        (["--probe.timeout-offset", "1e300"], "--probe.timeout-offset must be between 0 and 3600 seconds"),
        (["--probe.timeout-offset", "nan"], "--probe.timeout-offset: \"nan\" is not a number"),
        (["--tracing.export-timeout", "inf"], "--tracing.export-timeout: \"inf\" is not a number"),
        (["--history.max-bytes", "-1"], "--history.max-bytes must be between 0 and"),
        (["--janitor.min-age", "1e30h"], "--janitor.min-age must be a duration"),
        (["--web.listen-address", "nowhere"], "--web.listen-address must look like"),
        (["--tracing.otlp-endpoint", "http://user:pw@host:4318"], "--tracing.otlp-endpoint must be an http(s) URL"),
        (["--log.level", "loud"], "--log.level must be one of"),
        (["--log.level"], "--log.level needs a value"),
        (["--bogus"], "unknown flag --bogus"),
        (["--no-config.file"], "unknown flag --no-config.file"),
        (["--config.check=maybe"], "--config.check takes no value"),
        (["stray"], "unexpected argument \"stray\""),
        (["-x"], "unknown flag -x"),
        (["--web.telemetry-path", "metrics"], "--web.telemetry-path must start with /"),
        (["check", "--format", "xml"], "--format must be text or json"),
        (["check", "--cleanup.wait", "301"], "--cleanup.wait must be between 0 and 300 seconds"),
        (["check", "--web.max-requests", "3"], "unknown flag --web.max-requests"),
        (["help", "nope"], "no subcommand \"nope\""),
    ] as [([String], String)])
    func test_badFlags_areRefused_withAMessageNamingTheFlag(_ arguments: [String], _ expected: String) {
        let error = usageError(arguments)
        #expect(error?.message.contains(expected) == true, "\(arguments): \(String(describing: error))")
    }

    @Test func test_errorsInCheckFlags_pointAtCheckHelp() {
        #expect(usageError(["check", "--log.format", "xml"])?.command == "check")
        #expect(usageError(["--log.format", "xml"])?.command == "serve")
    }

    @Test func test_controlCharactersInAnArgument_neverReachTheErrorMessage() {
        let message = usageError(["--web.max-requests", "1\u{1B}[2J\n2"])?.message ?? ""
        #expect(!message.unicodeScalars.contains { $0.value < 0x20 })
        #expect((usageError([String(repeating: "x", count: 10_000)])?.message.count ?? .max) < 200)
    }

    @Test func test_helpAndVersion_areAnsweredFromAnySubcommand() throws {
        for arguments in [["--help"], ["-h"], ["serve", "--help"], ["check", "-h"], ["help"], ["help", "check"], ["--config.file", "x", "--help"]] {
            guard case .help(let text) = try Invocation.parse(arguments) else { Issue.record("\(arguments) is not help"); continue }
            #expect(text.hasPrefix("OVERVIEW: "))
            #expect(text.contains("\nUSAGE: infraprobe"))
            #expect(text.contains("  -h, --help"))
        }
        guard case .version = try Invocation.parse(["check", "--version"]) else { Issue.record("not version"); return }
    }

    @Test func test_help_listsEveryFlagWithItsDefault_inLinesOfAtMostEightyColumns() throws {
        guard case .help(let text) = try Invocation.parse(["--help"]) else { Issue.record("not help"); return }
        for spec in ServeOptions.flags {
            #expect(text.contains("  --\(spec.name)"), "\(spec.name)")
            if let value = spec.defaultText { #expect(text.contains("(default: \(value))"), "\(spec.name)") }
        }
        #expect(text.contains("SUBCOMMANDS:"))
        let long = text.split(separator: "\n").filter { $0.count > 80 && !$0.hasPrefix("  --") }
        #expect(long.isEmpty, "\(long)")
    }
}
