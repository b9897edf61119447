import Foundation

/// The HTML page at `/`: build info, links, and the latest result of each target.
public enum LandingPage {
    public static func render(service: ProbeService, telemetryPath: String) -> String {
        let config = service.config
        var rows = ""
        for target in config.targets {
            let latest = service.latest(target: target.name)
            for component in target.components {
                let result = latest?.result.components.first { $0.component == component }
                let status = result.map { $0.ok ? "<td class=up>UP</td>" : "<td class=down>DOWN</td>" } ?? "<td>not probed yet</td>"
                let latency = result.map { String(format: "%.1f ms", $0.duration.seconds * 1000) } ?? ""
                let reason = result?.failure.map { "\($0.reason.rawValue): \($0.message)" } ?? ""
                rows += "<tr><td>\(escape(target.name))</td><td>\(escape(target.kind))</td><td>\(escape(component))</td>\(status)"
                rows += "<td>\(latency)</td><td>\(escape(reason))</td></tr>\n"
            }
        }
        return """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>infraprobe</title>
        <style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;text-align:left}.up{background:#9e9}.down{background:#e99}</style>
        </head><body>
        <h1>infraprobe</h1>
        <p>Version \(escape(service.metrics.version)), revision \(escape(service.metrics.revision))</p>
        <ul><li><a href="\(escape(telemetryPath))">Exporter metrics</a></li><li><a href="/probe">Probe all targets</a></li><li><a href="/config">Configuration</a></li></ul>
        <h2>Targets</h2>
        <table><tr><th>Target</th><th>Prober</th><th>Component</th><th>Status</th><th>Latency</th><th>Reason</th></tr>
        \(rows)</table>
        </body></html>
        """
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
