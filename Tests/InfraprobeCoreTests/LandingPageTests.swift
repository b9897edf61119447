import Foundation
import Logging
import Testing
@testable import InfraprobeCore

@Suite("Landing page", .serialized)
struct LandingPageTests {
    @Test func test_landingPage_showsTargetsComponentsHistory_andEscapes() async throws {
        let redis = try await RedisServer.make()
        let hole = try BlackHoleListener()
        let exporter = try TestExporter(config: """
            targets:
              "cache<b>&\\"x":
                prober: redis
                address: \(redis.address)
              broken:
                prober: redis
                address: \(hole.address)
                timeout: 300ms
              never-probed:
                prober: redis
                address: 127.0.0.1:1
                components: [service_running]
            """, configure: { $0.historyLimit = 3 })
        for _ in 0..<2 { _ = try await exporter.get("/probe?target=broken") }
        _ = try await exporter.get("/probe?target=cache%3Cb%3E%26%22x")
        _ = try await exporter.get("/probe?target=broken")
        let page = try await exporter.get("/")
        #expect(page.status == 200)
        #expect(page.headers["content-type"] == "text/html; charset=utf-8")
        let html = page.text
        #expect(!html.contains("<b>&"), "target names must be escaped")
        #expect(html.contains("cache&lt;b&gt;&amp;&quot;x"))
        #expect(!html.contains("<script"), "no JavaScript")
        #expect(!html.contains("src=\"http") && !html.contains("href=\"http"), "no external assets")
        #expect(html.contains("<meta http-equiv=\"refresh\""))
        // 7 redis components for each of the two probed targets, 1 for the never-probed one.
        #expect(html.components(separatedBy: "<tr class=\"component\">").count - 1 == 15)
        #expect(html.components(separatedBy: "<td class=\"up\">UP</td>").count - 1 == 7)
        #expect(html.contains("<td class=\"down\">DOWN</td>"))
        #expect(html.contains("<b>timeout</b>"))
        #expect(html.contains("not probed yet"))
        #expect(html.contains(">100%</span>") && html.contains(">0%</span>"))
        #expect(html.contains("Overall health: 50%"), "7 of 14 probed components")
        // History is bounded by --history.limit and links to the logs, newest first.
        #expect(html.components(separatedBy: "<tr class=\"probe\">").count - 1 == 3)
        #expect(html.contains("<a href=\"/logs?id=4\">#4</a>") && !html.contains("<a href=\"/logs?id=1\">#1</a>"))
        #expect(try await exporter.get("/logs?id=4").text.contains("Probe #4 of target \"broken\""))
        #expect(html.contains("href=\"/metrics\"") && html.contains("href=\"/config\""))
        #expect(html.contains("Version \(BuildInfo.version)"))
    }
}

/// At a thousand targets the page stays one page of them, failing first, with a summary of all.
@Suite("Landing page at 1,000 targets", .serialized)
struct LandingPageScaleTests {
    @Test func test_landingPage_isBounded_at1000Targets_failingFirst_paginated() async throws {
        let redis = try await RedisServer.make()
        var yaml = "targets:\n"
        for index in 0..<1000 {
            let failing = index % 200 == 150
            yaml += "  t\(index):\n    prober: redis\n    address: \(failing ? "127.0.0.1:1" : redis.address)\n"
        }
        let config = try ConfigLoader(environment: ProbeHarness.environment)
            .parse(yaml: yaml, file: "test.yml", baseDirectory: URL(fileURLWithPath: NSTemporaryDirectory()))
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        let service = ProbeService(config: config, environment: ProbeHarness.environment, metrics: SelfMetrics(version: "t", revision: "t"),
                                   logger: quiet)
        // Five failing targets and five healthy ones probed; the other 990 not yet.
        let probed = config.targets.filter { ["t150", "t350", "t550", "t750", "t950", "t0", "t1", "t2", "t3", "t999"].contains($0.name) }
        for target in probed { _ = try await service.probe(target, timeout: .seconds(3)) }

        let first = LandingPage.render(service: service, telemetryPath: "/metrics")
        let rows = first.components(separatedBy: "<tr class=\"component\">").count - 1
        #expect(rows == LandingPage.targetsPerPage * 7, "one page of targets, 7 components each")
        #expect(first.utf8.count < 400_000, "\(first.utf8.count) B")
        #expect(first.contains("1000 targets: 5 failing, 990 not probed yet, 5 up · showing 1–100, failing first"))
        #expect(first.contains("Overall health: 50%"), "35 of 70 probed components up, over all targets")
        let failingAt = ["t150", "t350", "t550", "t750", "t950"].map { first.range(of: "debug=true\">\($0)</a>")?.lowerBound }
        let firstUnprobed = try #require(first.range(of: "debug=true\">t4</a>")?.lowerBound)
        #expect(failingAt.allSatisfy { $0 != nil && $0! < firstUnprobed }, "failing targets come first")
        #expect(first.contains("Page 1 of 10") && first.contains("<a href=\"/?page=2\">next</a>") && !first.contains("previous"))

        let last = LandingPage.render(service: service, telemetryPath: "/metrics", page: 10)
        #expect(last.contains("debug=true\">t999</a>") && last.contains("debug=true\">t0</a>"), "healthy targets come last")
        #expect(last.contains("<a href=\"/?page=9\">previous</a>") && !last.contains(">next</a>"))
        #expect(LandingPage.render(service: service, telemetryPath: "/metrics", page: 999).contains("Page 10 of 10"))
    }

    @Test func test_landingPage_refusesABadPageNumber_andShowsTheLastPastTheEnd() async throws {
        let exporter = try TestExporter(config: """
            targets:
              one:
                prober: redis
                address: 127.0.0.1:1
            """)
        for bad in ["abc", "0", "-1", "99999999999999999999999"] {
            let page = try await exporter.get("/?page=\(bad)")
            #expect(page.status == 400, "page=\(bad)")
            #expect(page.text.contains("expected a page number from 1"))
        }
        let past = try await exporter.get("/?page=7")
        #expect(past.status == 200 && past.text.contains("debug=true\">one</a>"))
        #expect(!past.text.contains("Page 1 of"), "one page needs no pager")
    }
}
