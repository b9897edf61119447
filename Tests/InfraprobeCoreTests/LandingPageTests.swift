import Foundation
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
