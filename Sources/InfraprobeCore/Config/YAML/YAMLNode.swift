/// A composed YAML node, as the config readers see a document: aliases are already replaced by
/// the node they name (sharing its storage, so an alias costs no copy), and every node keeps
/// where it starts in the file, for errors that name a line.
enum YAMLNode: Sendable {
    case scalar(Scalar)
    case mapping(Mapping)
    case sequence(Sequence)

    /// Where a node starts: 1-based line and column (in Unicode scalars, as libyaml counts).
    struct Mark: Sendable, Equatable, CustomStringConvertible {
        let line: Int
        let column: Int

        var description: String { "\(line):\(column)" }
    }

    struct Scalar: Sendable {
        enum Style: Sendable, Equatable {
            case plain, singleQuoted, doubleQuoted, literal, folded
        }

        /// The text after quoting, escapes and folding are undone.
        let string: String
        let style: Style
        /// An explicit tag in its full form (`!!str` is `tag:yaml.org,2002:str`); nil when implicit.
        let tag: String?
        let mark: Mark

        /// The core schema's null: a plain `~`, `null`, `Null`, `NULL` or nothing at all, unless
        /// tagged otherwise; `''` and `"null"` are strings. The readers take their other types
        /// (integers, booleans, durations) from `string` themselves, with their own errors.
        var isNull: Bool {
            switch tag {
            case YAMLNode.nullTag?: return true
            case nil: return style == .plain && Self.nullSpellings.contains(string)
            default: return false
            }
        }

        static let nullSpellings: Set<String> = ["", "~", "null", "Null", "NULL"]
    }

    /// Key-value pairs in document order; keys are unique (the composer refuses duplicates).
    struct Mapping: Sendable, RandomAccessCollection {
        let pairs: [(key: YAMLNode, value: YAMLNode)]
        let tag: String?
        let mark: Mark

        var startIndex: Int { pairs.startIndex }
        var endIndex: Int { pairs.endIndex }
        subscript(position: Int) -> (key: YAMLNode, value: YAMLNode) { pairs[position] }
    }

    struct Sequence: Sendable, RandomAccessCollection {
        let items: [YAMLNode]
        let tag: String?
        let mark: Mark

        var startIndex: Int { items.startIndex }
        var endIndex: Int { items.endIndex }
        subscript(position: Int) -> YAMLNode { items[position] }
    }

    static let nullTag = "tag:yaml.org,2002:null"

    var mark: Mark {
        switch self {
        case .scalar(let scalar): scalar.mark
        case .mapping(let mapping): mapping.mark
        case .sequence(let sequence): sequence.mark
        }
    }

    var tag: String? {
        switch self {
        case .scalar(let scalar): scalar.tag
        case .mapping(let mapping): mapping.tag
        case .sequence(let sequence): sequence.tag
        }
    }

    /// A scalar's text; nil for a mapping or a sequence.
    var string: String? {
        if case .scalar(let scalar) = self { return scalar.string }
        return nil
    }

    /// Whether this is a null scalar (see `Scalar.isNull`); a collection never is.
    var isNull: Bool {
        if case .scalar(let scalar) = self { return scalar.isNull }
        return false
    }
}
