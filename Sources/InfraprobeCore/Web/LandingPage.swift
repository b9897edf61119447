import Foundation

/// The HTML page at `/`: every configured target × component from the latest probe, the
/// addresses probed through modules, per-target and overall health, the recent probes with
/// links to their logs, build info and links. Server-rendered, no scripts or external assets;
/// it refreshes itself every 30 s. Every value is HTML-escaped.
public enum LandingPage {
    public static let refreshSeconds = 30

    public static func render(service: ProbeService, telemetryPath: String, now: Date = Date()) -> String {
        let config = service.config
        var sections: [(name: String, kind: String, module: String?, components: [String], record: ProbeRecord?)] = []
        for target in config.targets {
            sections.append((target.name, target.kind, nil, target.components, service.latest(target: target.name)))
        }
        for record in service.latestDiscovered {
            sections.append((record.result.target, record.result.prober, record.module, record.result.components.map(\.component), record))
        }

        var passed = 0, total = 0
        var rows = ""
        for section in sections {
            let results = section.record?.result.components ?? []
            let up = results.filter(\.ok).count
            passed += up
            total += section.record == nil ? 0 : section.components.count
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
        <h2>Targets</h2>
        <table id="targets"><thead><tr><th>Target</th><th>Health</th><th>Component</th><th>Status</th><th>Latency</th><th>Reason</th></tr></thead><tbody>
        \(rows)</tbody></table>
        <h2>Recent probes</h2>
        <table id="history"><thead><tr><th>Log</th><th>Started</th><th>Target</th><th>Module</th><th>Prober</th><th>Result</th><th>Duration</th></tr></thead><tbody>
        \(history)</tbody></table>
        <p><small>Version \(escape(metrics.version)), revision \(escape(metrics.revision)), Swift \(escape(BuildInfo.swiftVersion)) · keeps the last \(service.historyLimit) probes · page generated \(escape(timestamp(now.timeIntervalSince1970))), refreshes every \(refreshSeconds) s</small></p>
        </main></body></html>
        """
    }

    static func percent(_ part: Int, _ whole: Int) -> String {
        whole == 0 ? "–" : String(format: "%.0f%%", Double(part) * 100 / Double(whole))
    }

    static func milliseconds(_ duration: Duration) -> String {
        String(format: "%.1f ms", duration.seconds * 1000)
    }

    static func timestamp(_ seconds: Double) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: seconds))
    }

    static func ago(_ seconds: Double, _ now: Date) -> String {
        let elapsed = max(0, Int(now.timeIntervalSince1970 - seconds))
        if elapsed < 120 { return "\(elapsed) s ago" }
        if elapsed < 7200 { return "\(elapsed / 60) min ago" }
        return "\(elapsed / 3600) h ago"
    }

    static func urlQuery(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
    }

    static func escape(_ text: String) -> String {
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
