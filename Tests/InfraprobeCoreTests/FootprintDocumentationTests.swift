import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// The "requests per run" / "commands per run" column of every `### <prober> footprint` table in
/// docs/probers.md is what the prober sends: each component is probed alone (with the gate
/// `service_running`, and the checks it depends on, whose cost is subtracted) against the fakes, or a private real
/// redis-server, and the requests counted. `N: …` means exactly N, `≥ N: …` at least N (polls),
/// `1 + N …` one plus a request per datasource. The pipeline is left out: it crosses several
/// targets and its counts are polls (scripts/footprint measures it).
@Suite("docs/probers.md footprint tables match the requests probes send", .serialized)
struct FootprintDocumentationTests {
    struct Documented: CustomStringConvertible {
        enum Count { case exactly(Int), atLeast(Int), onePerDatasource }
        let component: String
        let count: Count
        var description: String { "\(component): \(count)" }

        func admits(_ measured: Int, datasources: Int) -> Bool {
            switch count {
            case .exactly(let n): measured == n
            case .atLeast(let n): measured >= n
            case .onePerDatasource: measured == 1 + datasources
            }
        }
    }

    struct UnreadableCount: Error, CustomStringConvertible {
        let kind, component, cell: String
        var description: String { "docs/probers.md \(kind) footprint, \(component): \"\(cell)\" does not start with N, ≥ N or 1 + N" }
    }

    /// The rows of the `### <kind> footprint` table, by component.
    static func documented(_ kind: String) throws -> [Documented] {
        let text = try String(contentsOfFile: "docs/probers.md", encoding: .utf8)
        let heading = "### \(kind) footprint\n"
        let start = try #require(text.range(of: heading), "docs/probers.md has no \(heading)")
        let lines = text[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false)
            .drop { !$0.hasPrefix("|") }.prefix { $0.hasPrefix("|") }
        let cells = lines.map { line in line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast().map { $0.trimmingCharacters(in: .whitespaces) } }
        let header = try #require(cells.first)
        let column = try #require(header.firstIndex { $0.hasSuffix("per run") }, "\(kind): no 'requests per run' column in \(header)")
        return try cells.dropFirst(2).map { row in
            let name = row[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            let cell = row[column]
            let count: Documented.Count
            if cell.hasPrefix("1 + N") {
                count = .onePerDatasource
            } else if let match = cell.firstMatch(of: /^(≥ )?(\d+)/), let n = Int(match.2) {
                count = match.1 == nil ? .exactly(n) : .atLeast(n)
            } else {
                throw UnreadableCount(kind: kind, component: name, cell: cell)
            }
            return Documented(component: name, count: count)
        }
    }

    /// The fakes' own config: the settings lines of one target.
    static func settings(_ fleet: FakeFleet, target: String) -> [String] {
        let lines = fleet.config(redisAddress: nil).split(separator: "\n").map(String.init)
        guard let start = lines.firstIndex(of: "  \(target):") else { return [] }
        return lines[(start + 1)...].prefix { $0.hasPrefix("    ") }.map { String($0.dropFirst(4)) }.filter { !$0.hasPrefix("prober:") }
    }

    /// Requests one probe limited to `components` sends (the gate, and what they depend on, run too).
    static func requests(_ fake: FakeService, kind: String, settings: [String], components: [String]) async throws -> Int {
        fake.requestLog.withLock { $0.removeAll() }
        let outcome = try await ProbeHarness.probe(kind, settings + ["components: [\(components.joined(separator: ", "))]"], deadline: .seconds(5))
        for component in components {
            #expect(outcome.up(component), "\(kind) \(component) must pass to be measured: \(outcome.summary)")
        }
        return fake.requestLog.current.count
    }

    /// What a component needs to run besides itself: the checks it depends on, else the gate.
    static func base(kind: String, settings: [String], component: String) throws -> [String] {
        let yaml = "targets:\n  t:\n    prober: \(kind)\n" + settings.map { "    \($0)\n" }.joined()
        let target = try #require(try ConfigLoader(environment: ProbeHarness.environment)
            .parse(yaml: yaml, file: "test.yml", baseDirectory: URL(fileURLWithPath: NSTemporaryDirectory())).targets.first)
        let dependencies = target.prober.checks().first { $0.name == component }?.dependencies ?? []
        return dependencies.isEmpty ? [ComponentRunner.gateComponent] : dependencies
    }

    @Test("HTTP probers: each component sends the documented number of requests",
          arguments: [("consul", "consul"), ("arangodb", "arangodb"), ("tempo", "tempo"), ("grafana", "grafana"), ("otel_collector", "otel")])
    func test_footprintTable_matchesRequestsSent(kind: String, target: String) async throws {
        let fleet = FakeFleet()
        try fleet.start()
        defer { fleet.stop() }
        let fake = try #require(fleet.all.first { $0.0 == target }?.1)
        let settings = Self.settings(fleet, target: target)
        let rows = try Self.documented(kind)
        let kindComponents = try #require(ProberRegistry.standard.descriptors[kind]).componentNames
        #expect(Set(rows.map(\.component)) == Set(kindComponents), "the \(kind) footprint table lists every component once")
        for row in rows {
            var own = try await Self.requests(fake, kind: kind, settings: settings, components: [row.component])
            let sent = fake.requestLog.current
            if row.component != ComponentRunner.gateComponent {
                let base = try Self.base(kind: kind, settings: settings, component: row.component)
                own -= try await Self.requests(fake, kind: kind, settings: settings, components: base)
            }
            #expect(row.admits(own, datasources: fleet.grafana.datasources.current.count),
                    "\(kind) \(row.component): documented \(row.count), measured \(own) (all sent: \(sent.joined(separator: ", ")))")
        }
    }

    @Test("redis: each component sends the documented number of commands")
    func test_redisFootprintTable_matchesCommandsSent() async throws {
        let redis = try await RedisServer.make()
        func calls() throws -> Int {
            let info = try redis.command(["INFO", "commandstats"]).string ?? ""
            return info.matches(of: /cmdstat_[^:]+:calls=(\d+)/).compactMap { Int($0.1) }.reduce(0, +)
        }
        func commands(_ component: String) async throws -> Int {
            let before = try calls()
            let result = await Probe.run(try Probe.redis(redis.address, extra: "components: [\(component)]"))
            #expect(result.component(component)?.ok == true, "redis \(component) must pass to be measured: \(result.failureSummary)")
            return try calls() - before - 1 // the INFO that read `before` counts in the second reading
        }
        let rows = try Self.documented("redis")
        #expect(Set(rows.map(\.component)) == Set(RedisProber.descriptor.componentNames), "the redis footprint table lists every component once")
        let gate = try await commands(ComponentRunner.gateComponent)
        for row in rows {
            let own = row.component == ComponentRunner.gateComponent ? gate : try await commands(row.component) - gate
            #expect(row.admits(own, datasources: 0), "redis \(row.component): documented \(row.count), measured \(own)")
        }
    }
}
