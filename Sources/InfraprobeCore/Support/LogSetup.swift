import FoundationEssentials
import Glibc
import Logging

/// Log line formats of `--log.format`, as Prometheus exporters write them.
public enum LogFormat: String, Sendable, CaseIterable {
    case logfmt, json
}

/// A swift-log handler writing logfmt or JSON lines to stderr.
public struct ExporterLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let format: LogFormat

    public init(label: String, level: Logger.Level, format: LogFormat) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        var fields: [(String, String)] = [
            ("time", ISO8601Timestamp.string(fromUnixSeconds: Date().timeIntervalSince1970)),
            ("level", event.level.rawValue),
            ("logger", label),
            ("msg", event.message.description),
        ]
        fields += merged.sorted { $0.key < $1.key }.map { ($0.key, $0.value.description) }
        let line: String
        switch format {
        case .json:
            line = "{" + fields.map { "\(Self.jsonString($0.0)):\(Self.jsonString($0.1))" }.joined(separator: ",") + "}"
        case .logfmt:
            line = fields.map { "\($0.0)=\(Self.logfmtValue($0.1))" }.joined(separator: " ")
        }
        StandardError.write(line + "\n")
    }

    static func jsonString(_ text: String) -> String {
        var out = ""
        JSONValue.writeString(text, to: &out)
        return out
    }

    /// A logfmt value, quoted when needed; control characters escaped (`\n`, `\e`, `\u{85}`).
    static func logfmtValue(_ text: String) -> String {
        guard text.isEmpty || text.unicodeScalars.contains(where: { $0 == " " || $0 == "=" || $0 == "\"" || $0.isControlCharacter })
        else { return text }
        return "\"" + text.replacingEvery("\\", with: "\\\\").replacingEvery("\"", with: "\\\"")
            .escapingControlCharacters + "\""
    }
}
