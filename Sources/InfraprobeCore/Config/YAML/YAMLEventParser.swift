import CYAML

/// libyaml's event parser over one UTF-8 text. The only code that touches libyaml: everything
/// after it sees `YAMLEvent`s and `YAMLSyntaxError`s.
final class YAMLEventParser {
    private let parser: UnsafeMutablePointer<yaml_parser_t>
    /// libyaml reads the text in place, so it lives as long as the parser.
    private let input: UnsafeMutableBufferPointer<UInt8>
    private let count: Int
    private enum State { case parsing, ended, failed(YAMLSyntaxError) }
    private var state = State.parsing

    init(_ text: String) {
        count = text.utf8.count
        input = .allocate(capacity: max(count, 1))
        _ = input.initialize(from: text.utf8)
        parser = .allocate(capacity: 1)
        parser.initialize(to: yaml_parser_t())
        guard yaml_parser_initialize(parser) == 1 else {
            state = .failed(YAMLSyntaxError(problem: "out of memory", mark: nil, context: nil))
            return
        }
        yaml_parser_set_encoding(parser, YAML_UTF8_ENCODING)
        yaml_parser_set_input_string(parser, input.baseAddress, count)
    }

    deinit {
        yaml_parser_delete(parser)
        parser.deallocate()
        input.deallocate()
    }

    /// The next event; after `streamEnd`, `streamEnd` again, and after an error the same error.
    func next() throws(YAMLSyntaxError) -> YAMLEvent {
        switch state {
        case .parsing: break
        case .ended: return YAMLEvent(kind: .streamEnd, mark: YAMLNode.Mark(line: 1, column: 1))
        case .failed(let error): throw error
        }
        var event = yaml_event_t()
        guard yaml_parser_parse(parser, &event) == 1 else {
            let error = syntaxError()
            state = .failed(error)
            throw error
        }
        defer { yaml_event_delete(&event) }
        let mark = Self.mark(event.start_mark)
        let kind: YAMLEvent.Kind
        switch event.type {
        case YAML_STREAM_START_EVENT: kind = .streamStart
        case YAML_DOCUMENT_START_EVENT: kind = .documentStart
        case YAML_DOCUMENT_END_EVENT: kind = .documentEnd
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let value = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
            kind = .scalar(value, style: Self.style(scalar.style), tag: Self.string(scalar.tag), anchor: Self.string(scalar.anchor))
        case YAML_ALIAS_EVENT:
            kind = .alias(Self.string(event.data.alias.anchor) ?? "")
        case YAML_SEQUENCE_START_EVENT:
            let start = event.data.sequence_start
            kind = .sequenceStart(tag: Self.string(start.tag), anchor: Self.string(start.anchor))
        case YAML_SEQUENCE_END_EVENT: kind = .sequenceEnd
        case YAML_MAPPING_START_EVENT:
            let start = event.data.mapping_start
            kind = .mappingStart(tag: Self.string(start.tag), anchor: Self.string(start.anchor))
        case YAML_MAPPING_END_EVENT: kind = .mappingEnd
        default:
            kind = .streamEnd
        }
        if case .streamEnd = kind { state = .ended }
        return YAMLEvent(kind: kind, mark: mark)
    }

    private func syntaxError() -> YAMLSyntaxError {
        let state = parser.pointee
        let problem = state.problem.map { String(cString: $0) } ?? "cannot parse"
        switch state.error {
        case YAML_MEMORY_ERROR:
            return YAMLSyntaxError(problem: "out of memory", mark: nil, context: nil)
        case YAML_READER_ERROR:
            // The reader (encoding, control characters) knows only a byte offset.
            return YAMLSyntaxError(problem: problem, mark: mark(atOffset: state.problem_offset), context: nil)
        default:
            let context = state.context.map { (text: String(cString: $0), mark: Self.mark(state.context_mark)) }
            return YAMLSyntaxError(problem: problem, mark: Self.mark(state.problem_mark), context: context)
        }
    }

    private func mark(atOffset offset: Int) -> YAMLNode.Mark {
        let before = input.prefix(min(offset, count))
        let lineStart = (before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
        let newlines = before.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
        let column = String(decoding: input[lineStart..<before.endIndex], as: UTF8.self).unicodeScalars.count
        return YAMLNode.Mark(line: newlines + 1, column: column + 1)
    }

    private static func mark(_ mark: yaml_mark_t) -> YAMLNode.Mark {
        YAMLNode.Mark(line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }

    private static func style(_ style: yaml_scalar_style_t) -> YAMLNode.Scalar.Style {
        switch style {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: .singleQuoted
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: .doubleQuoted
        case YAML_LITERAL_SCALAR_STYLE: .literal
        case YAML_FOLDED_SCALAR_STYLE: .folded
        default: .plain
        }
    }
}
