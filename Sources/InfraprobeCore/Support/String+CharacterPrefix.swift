extension String {
    /// `String(prefix(count))`: the first `count` characters. Text whose first `count` bytes are
    /// ASCII without a carriage return (each byte a character of its own) and whose next byte is
    /// ASCII too (no combining mark joins the last one) is cut by bytes, without walking
    /// grapheme clusters: a Redis pipeline's command line on every probe is such text.
    func characterPrefix(_ count: Int) -> String {
        var copy = self
        let cut: String? = copy.withUTF8 { bytes in
            guard bytes.count > count else { return self }
            guard bytes[count] < 0x80 else { return nil }
            for byte in bytes[..<count] where byte >= 0x80 || byte == 0x0D { return nil }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[..<count]), as: UTF8.self)
        }
        return cut ?? String(prefix(count))
    }
}
