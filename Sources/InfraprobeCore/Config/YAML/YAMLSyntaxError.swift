/// What libyaml could not parse, and where.
struct YAMLSyntaxError: Error, Sendable, CustomStringConvertible {
    /// libyaml's own words, e.g. `did not find expected ',' or ']'`.
    let problem: String
    /// Where the problem is; nil only when libyaml ran out of memory.
    let mark: YAMLNode.Mark?
    /// The construct being parsed and where it started, e.g. `while parsing a flow sequence` at 1:10.
    let context: (text: String, mark: YAMLNode.Mark)?

    var description: String {
        guard let context else { return problem }
        return "\(problem) (\(context.text) at line \(context.mark.line))"
    }
}
