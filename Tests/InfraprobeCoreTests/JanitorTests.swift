import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

@Suite("Janitor: only objects whose name and age prove they are infraprobe's and abandoned are swept")
struct JanitorTests {
    static let hourAgo = ProbeNonce.make(now: Date(timeIntervalSinceNow: -3600)).text
    static let justNow = ProbeNonce.make().text
    static let inTwoDays = ProbeNonce.make(now: Date(timeIntervalSinceNow: 2 * 86_400)).text

    @Test("a nonce carries its creation time in 13 lowercase base36 characters and reads back")
    func test_probeNonce_roundTripsItsTime() throws {
        let when = Date(timeIntervalSince1970: 1_796_000_000)
        let nonce = ProbeNonce.make(now: when)
        #expect(nonce.text.count == 13)
        #expect(nonce.text.allSatisfy { $0.isNumber || ("a"..."z").contains($0) })
        let parsed = try #require(ProbeNonce.parse(Substring(nonce.text), now: when))
        #expect(parsed.createdUnix == 1_796_000_000)
        #expect(parsed.age(now: when.addingTimeInterval(90)) == .seconds(90))
        #expect(ProbeNonce.make().text != ProbeNonce.make().text)
    }

    @Test("names parse with instances that contain the separator, and never by prefix alone",
          arguments: [
            ("infraprobe_test_host_1_\(hourAgo)_collection_operations", "test_host_1", "collection_operations"),
            ("infraprobe_web_7d9f_42_\(hourAgo)_graph_operations_v", "web_7d9f_42", "graph_operations_v"),
            ("infraprobe_a__\(hourAgo)_db", "a_", "db"),
          ])
    func test_probeObjectName_parses(name: String, instance: String, rest: String) throws {
        let parsed = try #require(ProbeObjectName.parse(name, prefix: "infraprobe", separator: "_"))
        #expect(parsed.instance == instance)
        #expect(parsed.rest == rest)
        #expect(parsed.nonce.text == Self.hourAgo)
        #expect(parsed.age() >= .seconds(3599))
    }

    @Test("look-alikes do not parse: no nonce, a nonce from the future or before 2020, another prefix, nothing after the nonce",
          arguments: [
            "infraprobe_something_db", "infraprobe_host_1_notanonce1234_db", "infraprobe_host_1_\(inTwoDays)_db",
            "infraprobe_host_1_0000000000000_db", "otherapp_host_1_\(hourAgo)_db", "infraprobe_host_1_\(hourAgo)",
            "infraprobe_\(hourAgo)_db", "infraprobe_host_1_\(hourAgo.uppercased())_db", "infraprobe_host_1_\(hourAgo)_",
          ])
    func test_probeObjectName_rejectsLookAlikes(name: String) {
        #expect(ProbeObjectName.parse(name, prefix: "infraprobe", separator: "_") == nil)
    }

    static func seed(_ fake: FakeArangoDB, _ prefix: String, nonce: String) {
        fake.state.withLock { state in
            state.databases["\(prefix)_deadhost_77_\(nonce)_db"] = FakeArangoDB.Database()
            state.databases["_system"]?.collections["\(prefix)_deadhost_77_\(nonce)_collection_operations"] = FakeArangoDB.Collection(type: 2)
            let graph = "\(prefix)_deadhost_77_\(nonce)_graph_operations"
            state.databases["_system"]?.graphs[graph] = [
                "name": .string(graph), "orphanCollections": [],
                "edgeDefinitions": [["collection": .string(graph + "_e"), "from": [.string(graph + "_v")], "to": [.string(graph + "_v")]]],
            ]
            state.databases["_system"]?.collections[graph + "_v"] = FakeArangoDB.Collection(type: 2)
            state.databases["_system"]?.collections[graph + "_e"] = FakeArangoDB.Collection(type: 3)
        }
    }

    static func names(_ fake: FakeArangoDB) -> [String] {
        let state = fake.state.current
        return state.databases.keys.sorted() + (state.databases["_system"]?.collections.keys.sorted() ?? [])
            + (state.databases["_system"]?.graphs.keys.sorted() ?? [])
    }

    @Test("ArangoDB: abandoned databases, graphs and collections go; young ones, unparseable names and other prefixes stay; counters move")
    func test_janitor_sweepsOnlyAbandonedArangoObjects() async throws {
        let fake = FakeArangoDB()
        try fake.start()
        let clean = Self.names(fake)
        Self.seed(fake, "infraprobe", nonce: Self.hourAgo)
        let keep = { () -> [String] in
            let before = Self.names(fake)
            Self.seed(fake, "infraprobe", nonce: Self.justNow)
            Self.seed(fake, "otherapp", nonce: Self.hourAgo)
            Self.seed(fake, "infraprobe", nonce: "notanonce1234")
            Self.seed(fake, "infraprobe", nonce: Self.inTwoDays)
            return Self.names(fake).filter { !before.contains($0) }
        }()
        let config = try ConfigLoader(environment: ProbeHarness.environment).parse(
            yaml: "targets:\n  arango:\n    prober: arangodb\n    url: \(fake.url)\n    username: root\n    password_file: \(try ProbeHarness.secretFile("pw"))\n",
            file: "test.yml", baseDirectory: URL(fileURLWithPath: NSTemporaryDirectory()))
        let metrics = SelfMetrics(version: "test", revision: "test")
        var options = Janitor.Options()
        options.minimumAge = .seconds(900)
        let janitor = Janitor(options: options, metrics: metrics) { config.targets }
        let reports = await janitor.runOnce()
        let report = try #require(reports["arango"])
        #expect(report.failures.isEmpty, "\(report.failures)")
        // The database, the graph (which takes its two collections), and the lone collection.
        #expect(report.found == 3 && report.removed == 3, "\(report)")
        #expect(Self.names(fake).sorted() == (clean + keep).sorted())
        #expect(CleanupLedgerTests.counter(metrics, "infraprobe_leftovers_found", prober: "arangodb") == 3)
        #expect(CleanupLedgerTests.counter(metrics, "infraprobe_leftovers_removed", prober: "arangodb") == 3)
        #expect(CleanupLedgerTests.gauge(metrics, "infraprobe_janitor_last_run_timestamp_seconds") ?? 0 > Date().timeIntervalSince1970 - 60)

        // Bounded: with limit 1 one object goes; the graph it did not reach still holds its two collections, found too.
        Self.seed(fake, "infraprobe", nonce: ProbeNonce.make(now: Date(timeIntervalSinceNow: -7200)).text)
        options.limit = 1
        let limited = try #require(await Janitor(options: options, metrics: nil) { config.targets }.runOnce()["arango"])
        #expect(limited.found == 5 && limited.removed == 1, "\(limited)")
        await fake.stopOffPool()
    }

    @Test("a target whose probe timeout is not below the minimum age is not swept: its own running probe's objects could look abandoned")
    func test_janitor_skipsTarget_whenItsTimeoutReachesTheMinimumAge() async throws {
        let fake = FakeArangoDB()
        try fake.start()
        Self.seed(fake, "infraprobe", nonce: Self.hourAgo)
        let seeded = Self.names(fake)
        let config = try ConfigLoader(environment: ProbeHarness.environment).parse(
            yaml: "targets:\n  arango:\n    prober: arangodb\n    timeout: 20s\n    url: \(fake.url)\n    username: root\n    password_file: \(try ProbeHarness.secretFile("pw"))\n",
            file: "test.yml", baseDirectory: URL(fileURLWithPath: NSTemporaryDirectory()))
        var options = Janitor.Options()
        options.minimumAge = .seconds(20)
        let reports = await Janitor(options: options, metrics: nil) { config.targets }.runOnce()
        #expect(reports["arango"] == nil)
        #expect(Self.names(fake) == seeded)
        await fake.stopOffPool()
    }
}
