extension StringProtocol {
    /// The last range where `target` occurs, compared Character by Character.
    func lastRange(of target: String) -> Range<Index>? {
        guard !target.isEmpty else { return nil }
        var start = endIndex
        while start > startIndex {
            start = index(before: start)
            if self[start...].starts(with: target) {
                return start..<index(start, offsetBy: target.count)
            }
        }
        return nil
    }
}
