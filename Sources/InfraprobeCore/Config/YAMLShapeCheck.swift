import CYaml  // the libyaml that Yams is built on: its event parser, without composing
import Foundation

/// Walks a YAML document's event stream before Yams composes it, and refuses documents whose
/// shape would cost far more than their size: aliases that expand past `nodeLimit` nodes (a
/// "billion laughs" document composes cheaply, as aliases share storage, but anything that
/// walks or hashes it — Yams' own duplicate-key check included — expands it), nesting deeper
/// than `depthLimit` (composing recurses), and duplicate keys, which Yams would report without
/// a line or key path. Syntax errors are left to Yams, which describes them better.
enum YAMLShapeCheck {
    /// A 1 MiB file holds at most ~500k nodes without aliases; real configs hold a few thousand.
    static let nodeLimit = 1_000_000
    static let depthLimit = 64

    private struct Frame {
        let isMapping: Bool
        let anchor: String?
        let totalAtStart: Int
        var expectingKey = true
        var key: String?
        var keyLines: [String: Int] = [:]
    }

    static func check(_ yaml: String, file: String) throws(ConfigError) {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return }
        defer { yaml_parser_delete(&parser) }
        var utf8 = Array(yaml.utf8)
        try utf8.withUnsafeMutableBufferPointer { (buffer) throws(ConfigError) in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            try walk(&parser, file: file)
        }
    }

    private static func walk(_ parser: inout yaml_parser_t, file: String) throws(ConfigError) {
        var stack: [Frame] = []
        var anchors: [String: Int] = [:]
        var total = 0
        func path() -> String {
            stack.compactMap { $0.isMapping ? $0.key ?? "?" : nil }.joined(separator: ".")
        }
        func fail(_ line: Int, _ message: String) -> ConfigError {
            ConfigError(file: file, line: line, key: path(), message: message)
        }
        // Counts a finished node into its parent, tracking mapping keys for duplicates.
        func add(size: Int, line: Int, scalarKey: String?) throws(ConfigError) {
            total = min(total + size, nodeLimit + 1)
            if total > nodeLimit {
                throw fail(line, "aliases expand to more than \(nodeLimit) nodes (an alias bomb?)")
            }
            guard let top = stack.indices.last, stack[top].isMapping else { return }
            if stack[top].expectingKey {
                stack[top].key = scalarKey
                if let scalarKey {
                    if let first = stack[top].keyLines[scalarKey] {
                        throw fail(line, "duplicate key (first at line \(first))")
                    }
                    stack[top].keyLines[scalarKey] = line
                }
            }
            stack[top].expectingKey.toggle()
        }
        while true {
            var event = yaml_event_t()
            guard yaml_parser_parse(&parser, &event) == 1 else { return }
            defer { yaml_event_delete(&event) }
            let line = Int(event.start_mark.line) + 1
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return
            case YAML_DOCUMENT_START_EVENT:
                anchors = [:]
                total = 0
            case YAML_SCALAR_EVENT:
                let scalar = event.data.scalar
                if let anchor = string(scalar.anchor) { anchors[anchor] = 1 }
                let value = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
                try add(size: 1, line: line, scalarKey: value)
            case YAML_ALIAS_EVENT:
                // An undefined alias is Yams' to report.
                let size = string(event.data.alias.anchor).flatMap { anchors[$0] } ?? 1
                try add(size: size, line: line, scalarKey: nil)
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                guard stack.count < depthLimit else { throw fail(line, "nested deeper than \(depthLimit) levels") }
                let isMapping = event.type == YAML_MAPPING_START_EVENT
                let anchor = string(isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor)
                total += 1
                stack.append(Frame(isMapping: isMapping, anchor: anchor, totalAtStart: total - 1))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let frame = stack.popLast() else { return }
                let size = total - frame.totalAtStart
                if let anchor = frame.anchor { anchors[anchor] = size }
                // The collection itself was counted when it started; add only its place in the parent.
                total -= size
                try add(size: size, line: line, scalarKey: nil)
            default:
                break
            }
        }
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }
}
