/// `--help` output in the OVERVIEW / USAGE / OPTIONS layout help2man reads (scripts/build-deb
/// makes the man page from it): each flag with its placeholder, its help wrapped at 80 columns,
/// and its default.
public enum HelpText {
    static let helpColumn = 26
    static let width = 80

    public static func render(overview: String, usage: String, flags: [FlagSpec], trailer: String = "") -> String {
        var text = wrap(words("OVERVIEW: " + overview), indent: 0) + "\n\nUSAGE: \(usage)\n\nOPTIONS:\n"
        let builtIn = [FlagSpec("version", .boolean, help: "Show the version."), FlagSpec("help", .boolean, help: "Show help information.")]
        for spec in flags + builtIn {
            var label = "  "
            switch (spec.name, spec.kind) {
            case ("help", _): label += "-h, --help"
            case (_, .boolean): label += "--\(spec.name)"
            case (_, .value): label += "--\(spec.name) <\(spec.name)>"
            case (_, .repeated): label += "--\(spec.name) <\(spec.name)> ..."
            }
            // The default is one word, so a line never ends between "(default:" and its value.
            text += entry(label, words(spec.help) + (spec.defaultText.map { ["(default: \($0))"] } ?? []))
        }
        return text + trailer
    }

    /// `label`, then `help` wrapped in the help column: on the label's line when it fits.
    public static func entry(_ label: String, _ help: [String]) -> String {
        let body = wrap(help, indent: helpColumn)
        if label.count < helpColumn {
            return label + String(repeating: " ", count: helpColumn - label.count) + body.dropFirst(helpColumn) + "\n"
        }
        return label + "\n" + body + "\n"
    }

    public static func words(_ text: String) -> [String] { text.split(separator: " ").map(String.init) }

    /// `words` in lines of at most `width` columns, every line indented by `indent`.
    static func wrap(_ words: [String], indent: Int) -> String {
        let pad = String(repeating: " ", count: indent)
        var lines: [String] = []
        var line = pad
        for word in words {
            if line.count > indent && line.count + 1 + word.count > width {
                lines.append(line)
                line = pad
            }
            line += (line.count > indent ? " " : "") + word
        }
        lines.append(line)
        return lines.joined(separator: "\n")
    }
}
