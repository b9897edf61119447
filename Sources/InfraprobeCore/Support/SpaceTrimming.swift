/// Trims what Foundation's `CharacterSet.whitespaces` holds — tab and the Unicode space
/// separators (Zs: space, no-break space, the em/en spaces…), not line breaks — from both ends
/// of a text, without Foundation.
enum SpaceTrimming {
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\t" || scalar.properties.generalCategory == .spaceSeparator
    }

    static func trimmed(_ text: some StringProtocol) -> Substring {
        let text = Substring(text), scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0) }),
              let last = scalars.lastIndex(where: { !isSpace($0) }) else { return text[text.endIndex...] }
        return Substring(scalars[first...last])
    }
}
