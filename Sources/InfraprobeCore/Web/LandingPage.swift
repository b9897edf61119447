import FoundationEssentials
import Glibc

/// The HTML page at `/`: a summary of every configured target and module-probed address,
/// then one page of them, failing first, component by component from the latest probe, the
/// recent probes with links to their logs, build info and links. Pages hold `targetsPerPage`
/// targets (`/?page=N`), so the page stays small and quick however many targets there are.
/// Server-rendered, no scripts or external assets; it refreshes itself every 30 s. Every
/// value is HTML-escaped.
public enum LandingPage {
    public static let refreshSeconds = 30
    public static let targetsPerPage = 100

    private struct Section {
        let name: String
        let kind: String
        let module: String?
        let components: [String]
        let record: ProbeRecord?

        /// 0: a component is down, 1: not probed yet, 2: all up; the page shows them in this order.
        var rank: Int {
            guard let record else { return 1 }
            return record.result.components.allSatisfy(\.ok) && record.result.components.count >= components.count ? 2 : 0
        }
    }

    /// The number of pages `render` can show for the service's targets now.
    public static func pageCount(service: ProbeService) -> Int {
        pageCount(targets: service.config.targets.count + service.latestDiscoveredCount)
    }

    static func pageCount(targets: Int) -> Int { max(1, (targets + targetsPerPage - 1) / targetsPerPage) }

    /// `page` counts from 1; past the last page shows the last.
    public static func render(service: ProbeService, telemetryPath: String, page requested: Int = 1, now: Date = Date()) -> String {
        let config = service.config
        let latest = service.latestByTarget
        var sections: [Section] = []
        for target in config.targets {
            sections.append(Section(name: target.name, kind: target.kind, module: nil, components: target.components, record: latest[target.name]))
        }
        for record in service.latestDiscovered {
            sections.append(Section(name: record.result.target, kind: record.result.prober, module: record.module,
                                    components: record.result.components.map(\.component), record: record))
        }

        var passed = 0, total = 0
        var counts = [0, 0, 0]
        var ranked: [(rank: Int, index: Int)] = []
        ranked.reserveCapacity(sections.count)
        for (index, section) in sections.enumerated() {
            if let record = section.record {
                passed += record.result.components.filter(\.ok).count
                total += section.components.count
            }
            let rank = section.rank
            counts[rank] += 1
            ranked.append((rank, index))
        }
        ranked.sort { ($0.rank, $0.index) < ($1.rank, $1.index) }
        let pages = pageCount(targets: sections.count)
        let page = min(max(1, requested), pages)
        let shown = ranked.dropFirst((page - 1) * targetsPerPage).prefix(targetsPerPage)

        var rows = ""
        rows.reserveCapacity(shown.count * 2048)
        for (_, index) in shown {
            let section = sections[index]
            let results = section.record?.result.components ?? []
            let up = results.filter(\.ok).count
            let health: String
            if let record = section.record {
                health = "<span class=\"\(up == section.components.count ? "up" : up == 0 ? "down" : "partial")\">\(percent(up, section.components.count))</span>"
                    + " <small>\(up)/\(section.components.count) · \(ago(record.result.startedAt, now)) · <a href=\"/logs?id=\(record.id)\">log #\(record.id)</a></small>"
            } else {
                health = "<span class=\"unknown\">not probed yet</span>"
            }
            let probeLink = section.module.map { "/probe?module=\(urlQuery($0))&target=\(urlQuery(section.name))" } ?? "/probe?target=\(urlQuery(section.name))"
            for (index, component) in section.components.enumerated() {
                let result = results.first { $0.component == component }
                rows += "<tr class=\"component\">"
                if index == 0 {
                    let span = section.components.count
                    rows += "<th rowspan=\"\(span)\" class=\"target\"><a href=\"\(escape(probeLink))&amp;debug=true\">\(escape(section.name))</a>"
                    rows += "<br><small>\(escape(section.kind))\(section.module.map { " · module " + escape($0) } ?? "")</small></th>"
                    rows += "<td rowspan=\"\(span)\">\(health)</td>"
                }
                rows += "<td>\(escape(component))</td>"
                switch result {
                case .some(let result) where result.ok:
                    rows += "<td class=\"up\">UP</td><td class=\"num\">\(milliseconds(result.duration))</td><td></td>"
                case .some(let result):
                    let reason = result.failure.map { failure in
                        "<b>\(escape(failure.reason.rawValue))</b>" + (failure.hop.map { " (hop " + escape($0) + ")" } ?? "") + ": " + escape(String(failure.message.prefix(300)))
                    } ?? ""
                    rows += "<td class=\"down\">DOWN</td><td class=\"num\">\(milliseconds(result.duration))</td><td class=\"reason\">\(reason)</td>"
                case .none:
                    rows += "<td class=\"unknown\">–</td><td></td><td></td>"
                }
                rows += "</tr>\n"
            }
        }
        if rows.isEmpty { rows = "<tr><td colspan=\"6\">No targets configured.</td></tr>\n" }

        var summary = "\(sections.count) target\(sections.count == 1 ? "" : "s"): \(counts[0]) failing, \(counts[1]) not probed yet, \(counts[2]) up"
        var pager = ""
        if pages > 1 {
            let first = (page - 1) * targetsPerPage + 1
            summary += " · showing \(first)–\(first + shown.count - 1), failing first"
            pager = "<p class=\"pager\">Page \(page) of \(pages)"
            if page > 1 { pager += " · <a href=\"/?page=\(page - 1)\">previous</a>" }
            if page < pages { pager += " · <a href=\"/?page=\(page + 1)\">next</a>" }
            pager += "</p>"
        }

        var history = ""
        for record in service.history.reversed() {
            let result = record.result
            history += "<tr class=\"probe\"><td><a href=\"/logs?id=\(record.id)\">#\(record.id)</a></td>"
            history += "<td>\(escape(timestamp(result.startedAt)))</td><td>\(escape(result.target))</td><td>\(escape(record.module ?? ""))</td>"
            history += "<td>\(escape(result.prober))</td>"
            history += "<td class=\"\(result.success ? "up" : "down")\">\(result.success ? "Success" : "Failure") \(result.passed)/\(result.components.count)</td>"
            history += "<td class=\"num\">\(milliseconds(result.duration))</td></tr>\n"
        }
        if history.isEmpty { history = "<tr><td colspan=\"7\">No probes yet. Prometheus scrapes <code>/probe</code>; or <a href=\"/probe\">probe all targets now</a>.</td></tr>\n" }

        let overall = total == 0 ? "no results yet" : "\(percent(passed, total)) <small>(\(passed)/\(total) components up)</small>"
        let metrics = service.metrics
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="\(refreshSeconds)">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>infraprobe</title>
        <style>
        body{font-family:system-ui,sans-serif;margin:0;color:#222}
        header{background:#e6522c;color:#fff;padding:.6em 1.5em}header h1{margin:0;font-size:1.4em}
        main{padding:0 1.5em 2em}nav a{margin-right:1.2em}
        table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{padding:3px 10px;text-align:left;border-bottom:1px solid #ddd;vertical-align:top}
        th.target{background:#f6f6f6;white-space:nowrap}.num{text-align:right;font-variant-numeric:tabular-nums}
        .up{background:#c8efc8}.down{background:#f6c4c4}.partial{background:#f8e3a8}.unknown{color:#888}
        .reason{max-width:40em;font-size:.9em}small{color:#555}.overall{font-size:1.3em}
        </style>
        </head><body>
        <header><h1>infraprobe</h1>Functional probes of Redis, Consul, ArangoDB, Tempo, Grafana and the OpenTelemetry Collector</header>
        <main>
        <nav><a href="\(escape(telemetryPath))">Exporter metrics</a><a href="/probe">Probe all targets</a><a href="/probe?debug=true">Probe all (debug)</a><a href="/config">Configuration</a><a href="/-/healthy">Health</a></nav>
        <p class="overall">Overall health: \(overall)</p>
        <p class="summary">\(summary)</p>
        <h2>Targets</h2>
        \(pager)
        <table id="targets"><thead><tr><th>Target</th><th>Health</th><th>Component</th><th>Status</th><th>Latency</th><th>Reason</th></tr></thead><tbody>
        \(rows)</tbody></table>
        \(pager)
        <h2>Recent probes</h2>
        <table id="history"><thead><tr><th>Log</th><th>Started</th><th>Target</th><th>Module</th><th>Prober</th><th>Result</th><th>Duration</th></tr></thead><tbody>
        \(history)</tbody></table>
        <p><small>Version \(escape(metrics.version)), revision \(escape(metrics.revision)), Swift \(escape(BuildInfo.swiftVersion)) · keeps the last \(service.historyLimit) probes (up to \(service.historyByteLimit / 1024) KiB) · page generated \(escape(timestamp(now.timeIntervalSince1970))), refreshes every \(refreshSeconds) s</small></p>
        </main></body></html>
        """
    }

    /// `42%`; printf's rounding (half to even) without String(format:), which is slow.
    static func percent(_ part: Int, _ whole: Int) -> String {
        whole == 0 ? "–" : "\(Int((Double(part) * 100 / Double(whole)).rounded(.toNearestOrEven)))%"
    }

    /// `12.3 ms`, without String(format:).
    static func milliseconds(_ duration: Duration) -> String {
        let tenths = (max(0, duration.microseconds) + 50) / 100
        return "\(tenths / 10).\(tenths % 10) ms"
    }

    static func timestamp(_ seconds: Double) -> String {
        ISO8601Timestamp.string(fromUnixSeconds: seconds)
    }

    static func ago(_ seconds: Double, _ now: Date) -> String {
        let elapsed = max(0, Int(now.timeIntervalSince1970 - seconds))
        if elapsed < 120 { return "\(elapsed) s ago" }
        if elapsed < 7200 { return "\(elapsed / 60) min ago" }
        return "\(elapsed / 3600) h ago"
    }

    static func urlQuery(_ text: String) -> String {
        PercentEncoding.encode(text)
    }

    static func escape(_ text: String) -> String {
        guard text.utf8.contains(where: { [UInt8(ascii: "&"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "\""), UInt8(ascii: "'")].contains($0) }) else {
            return text
        }
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
