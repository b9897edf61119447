extension StringProtocol {
    /// Every occurrence of `target` replaced by `replacement`, compared byte for byte (UTF-8),
    /// left to right without overlaps. Byte-wise on purpose: an escaper must catch a `\` even
    /// when a combining mark follows it, which a Character-wise match would not.
    func replacingEvery(_ target: String, with replacement: String) -> String {
        let needle = Array(target.utf8)
        precondition(!needle.isEmpty, "replacingEvery needs a non-empty target")
        let bytes = Array(utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == needle[0], index + needle.count <= bytes.count,
               bytes[index..<index + needle.count].elementsEqual(needle) {
                out.append(contentsOf: replacement.utf8)
                index += needle.count
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
