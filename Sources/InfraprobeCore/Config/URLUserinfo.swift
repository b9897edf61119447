/// Credentials written into a URL (`http://user:pass@host`). infraprobe refuses them in the
/// config (they would travel as basic auth while looking like an address, and every surface
/// that shows addresses would have to know to hide them), and hides them wherever a text that
/// may hold one is shown: config errors, answers to bad requests, log lines.
public enum URLUserinfo {
    /// The message every URL setting with userinfo is refused with.
    public static let refusal = "must not carry credentials (user:password@host); use the username and password (or password_file) keys"

    /// Whether `text` has userinfo in its authority (after `scheme://`, or at the start).
    public static func present(in text: String) -> Bool { userinfoRange(text) != nil }

    /// `text` with the userinfo of its authority replaced by `<secret>`.
    public static func redacted(_ text: String) -> String {
        guard let range = userinfoRange(text) else { return text }
        var redacted = text
        redacted.replaceSubrange(range, with: Secret.placeholder)
        return redacted
    }

    /// Up to and excluding the last `@` before the authority ends (`/`, `?` or `#`), as RFC 3986
    /// and curl read it. Parsers that end the authority earlier (at a backslash) only make the cut larger.
    private static func userinfoRange(_ text: String) -> Range<String.Index>? {
        let start = text.firstRange(of: "://")?.upperBound ?? text.startIndex
        let end = text[start...].firstIndex(where: { "/?#".contains($0) }) ?? text.endIndex
        guard let at = text[start..<end].lastIndex(of: "@") else { return nil }
        return start..<at
    }
}
