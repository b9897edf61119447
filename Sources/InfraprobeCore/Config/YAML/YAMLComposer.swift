/// Composes libyaml's events into one `YAMLNode`, refusing on the way documents whose shape
/// would cost far more than their size: aliases that expand past `nodeLimit` nodes (a "billion
/// laughs" document composes cheaply, as an alias shares its anchor's storage, but anything
/// that walks it expands it), nesting deeper than `depthLimit`, and duplicate keys. Every
/// error names the file, the line and the key path it happened under.
struct YAMLComposer {
    /// A 1 MiB file holds at most ~500k nodes without aliases; real configs hold a few thousand.
    static let nodeLimit = 1_000_000
    static let depthLimit = 64

    /// A collection being composed.
    private struct Frame {
        let isMapping: Bool
        let tag: String?
        let anchor: String?
        let mark: YAMLNode.Mark
        /// The document's node count when it started, to know its own expanded size at the end.
        let totalAtStart: Int
        var items: [YAMLNode] = []
        var pairs: [(key: YAMLNode, value: YAMLNode)] = []
        var pendingKey: YAMLNode?
        /// The last key's text (nil for a collection key), for error paths.
        var key: String?
        var keyLines: [String: Int] = [:]
    }

    private let file: String
    private var stack: [Frame] = []
    /// Each anchor's node and its size once expanded.
    private var anchors: [String: (node: YAMLNode, size: Int)] = [:]
    /// Nodes in the document so far, aliases counted as the size of what they name.
    private var total = 0
    private var root: YAMLNode?

    private init(file: String) { self.file = file }

    /// The single document's root; nil for a stream with no document (empty, or only comments).
    static func compose(_ text: String, file: String) throws(ConfigError) -> YAMLNode? {
        var composer = YAMLComposer(file: file)
        return try composer.composeStream(YAMLEventParser(text))
    }

    private mutating func composeStream(_ parser: YAMLEventParser) throws(ConfigError) -> YAMLNode? {
        while true {
            let event: YAMLEvent
            do {
                event = try parser.next()
            } catch {
                throw ConfigError(file: file, line: error.mark?.line, key: "", message: "invalid YAML: \(error)")
            }
            switch event.kind {
            case .streamStart:
                continue
            case .streamEnd:
                return root
            case .documentStart:
                if root != nil {
                    throw ConfigError(file: file, line: event.mark.line, key: "",
                                      message: "invalid YAML: expected a single document, but found another")
                }
            case .documentEnd:
                continue
            case .scalar(let value, let style, let tag, let anchor):
                let node = YAMLNode.scalar(YAMLNode.Scalar(string: value, style: style, tag: tag, mark: event.mark))
                if let anchor { anchors[anchor] = (node, 1) }
                try add(node, size: 1, line: event.mark.line)
            case .alias(let name):
                guard let (node, size) = anchors[name] else {
                    throw fail(event.mark.line, "invalid YAML: found undefined alias *\(name)")
                }
                try add(node, size: size, line: event.mark.line)
            case .sequenceStart(let tag, let anchor), .mappingStart(let tag, let anchor):
                guard stack.count < Self.depthLimit else {
                    throw fail(event.mark.line, "nested deeper than \(Self.depthLimit) levels")
                }
                let isMapping = if case .mappingStart = event.kind { true } else { false }
                total += 1
                stack.append(Frame(isMapping: isMapping, tag: tag, anchor: anchor, mark: event.mark, totalAtStart: total - 1))
            case .sequenceEnd, .mappingEnd:
                guard let frame = stack.popLast() else { continue }
                let node: YAMLNode = frame.isMapping
                    ? .mapping(YAMLNode.Mapping(pairs: frame.pairs, tag: frame.tag, mark: frame.mark))
                    : .sequence(YAMLNode.Sequence(items: frame.items, tag: frame.tag, mark: frame.mark))
                let size = total - frame.totalAtStart
                if let anchor = frame.anchor { anchors[anchor] = (node, size) }
                // The collection itself was counted when it started; add only its place in the parent.
                total -= size
                try add(node, size: size, line: event.mark.line)
            }
        }
    }

    /// Puts a finished node into its parent (or makes it the root), counting its expanded size.
    private mutating func add(_ node: YAMLNode, size: Int, line: Int) throws(ConfigError) {
        total = min(total + size, Self.nodeLimit + 1)
        if total > Self.nodeLimit {
            throw fail(line, "aliases expand to more than \(Self.nodeLimit) nodes (an alias bomb?)")
        }
        guard let top = stack.indices.last else {
            root = node
            return
        }
        guard stack[top].isMapping else {
            stack[top].items.append(node)
            return
        }
        guard let key = stack[top].pendingKey else {
            let text = node.string
            stack[top].key = text
            if let text {
                if let first = stack[top].keyLines[text] {
                    throw fail(line, "duplicate key (first at line \(first))")
                }
                stack[top].keyLines[text] = line
            }
            stack[top].pendingKey = node
            return
        }
        stack[top].pairs.append((key, node))
        stack[top].pendingKey = nil
    }

    private func fail(_ line: Int, _ message: String) -> ConfigError {
        let path = stack.compactMap { $0.isMapping ? $0.key ?? "?" : nil }.joined(separator: ".")
        return ConfigError(file: file, line: line, key: path, message: message)
    }
}
