import Testing
@testable import InfraprobeCore

/// The YAML node model the config readers see, composed from libyaml's events (Config/YAML).
@Suite("YAML composer")
struct YAMLComposerTests {
    func compose(_ yaml: String) throws -> YAMLNode? { try YAMLComposer.compose(yaml, file: "test.yml") }

    func mapping(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> YAMLNode.Mapping {
        guard case .mapping(let mapping)? = try compose(yaml) else { throw TestFailure("not a mapping: \(yaml)") }
        return mapping
    }

    func value(_ mapping: YAMLNode.Mapping, _ key: String) -> YAMLNode? {
        mapping.first { $0.key.string == key }?.value
    }

    func scalar(_ node: YAMLNode?) throws -> YAMLNode.Scalar {
        guard case .scalar(let scalar)? = node else { throw TestFailure("not a scalar: \(String(describing: node))") }
        return scalar
    }

    func expectError(_ yaml: String, line: Int?, key: String, containing text: String,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        guard let error = #expect(throws: ConfigError.self, sourceLocation: sourceLocation, performing: { try compose(yaml) }) else { return }
        #expect(error.file == "test.yml", "\(error)", sourceLocation: sourceLocation)
        #expect(error.line == line, "\(error)", sourceLocation: sourceLocation)
        #expect(error.key == key, "\(error)", sourceLocation: sourceLocation)
        #expect(error.message.contains(text), "\(error)", sourceLocation: sourceLocation)
    }

    @Test func test_composer_keepsMappingOrderAndNesting() throws {
        let root = try mapping("b: 1\na:\n  - x\n  - {y: z}\n")
        #expect(root.map { $0.key.string } == ["b", "a"])
        guard case .sequence(let list)? = value(root, "a") else { throw TestFailure("a is not a sequence") }
        #expect(list.count == 2)
        #expect(list[0].string == "x")
        guard case .mapping(let inner) = list[1] else { throw TestFailure("a[1] is not a mapping") }
        #expect(value(inner, "y")?.string == "z")
    }

    @Test func test_composer_marksEveryNodeWithItsLineAndColumn() throws {
        let root = try mapping("top:\n  key: value\n  list:\n    - item\n")
        #expect(root.mark == YAMLNode.Mark(line: 1, column: 1))
        guard case .mapping(let top)? = value(root, "top") else { throw TestFailure("top is not a mapping") }
        #expect(top.mark == YAMLNode.Mark(line: 2, column: 3))
        #expect(top[0].key.mark == YAMLNode.Mark(line: 2, column: 3))
        #expect(top[0].value.mark == YAMLNode.Mark(line: 2, column: 8))
        guard case .sequence(let list)? = value(top, "list") else { throw TestFailure("list is not a sequence") }
        #expect(list.mark.line == 4)
        #expect(list[0].mark == YAMLNode.Mark(line: 4, column: 7))
    }

    @Test func test_composer_returnsNil_forAStreamWithoutADocument() throws {
        #expect(try compose("") == nil)
        #expect(try compose("# only a comment\n") == nil)
    }

    @Test func test_scalar_isNull_onlyForPlainCoreSchemaNulls() throws {
        let root = try mapping("""
        empty:
        tilde: ~
        lower: null
        title: Null
        upper: NULL
        quoted: 'null'
        doubleQuoted: ""
        text: nil
        zero: 0
        """)
        for key in ["empty", "tilde", "lower", "title", "upper"] {
            #expect(try scalar(value(root, key)).isNull, "\(key)")
        }
        for key in ["quoted", "doubleQuoted", "text", "zero"] {
            #expect(try !scalar(value(root, key)).isNull, "\(key)")
        }
        #expect(try scalar(value(root, "empty")).string == "")
        #expect(try scalar(value(root, "tilde")).string == "~")
    }

    @Test func test_scalar_honoursExplicitTags_forNull() throws {
        let root = try mapping("a: !!str ~\nb: !!null ''\nc: ! null\n")
        #expect(try scalar(value(root, "a")).tag == "tag:yaml.org,2002:str")
        #expect(try !scalar(value(root, "a")).isNull)
        #expect(try scalar(value(root, "b")).isNull)
        #expect(try !scalar(value(root, "c")).isNull)
    }

    @Test func test_scalar_keepsTextAndStyle_ofBoolsIntsAndFloats() throws {
        // The readers parse numbers and booleans from the text themselves; the composer resolves no types.
        let root = try mapping("bool: yes\nint: 0x10\nfloat: 1e3\nsingle: 'a''b'\ndouble: \"tab\\there\"\nliteral: |\n  x\n  y\nfolded: >\n  x\n  y\n")
        #expect(try scalar(value(root, "bool")).string == "yes")
        #expect(try scalar(value(root, "int")).string == "0x10")
        #expect(try scalar(value(root, "float")).string == "1e3")
        #expect(try scalar(value(root, "bool")).style == .plain)
        #expect(try scalar(value(root, "single")).string == "a'b")
        #expect(try scalar(value(root, "single")).style == .singleQuoted)
        #expect(try scalar(value(root, "double")).string == "tab\there")
        #expect(try scalar(value(root, "double")).style == .doubleQuoted)
        #expect(try scalar(value(root, "literal")).string == "x\ny\n")
        #expect(try scalar(value(root, "literal")).style == .literal)
        #expect(try scalar(value(root, "folded")).string == "x y\n")
        #expect(try scalar(value(root, "folded")).style == .folded)
    }

    @Test func test_alias_isTheAnchoredNode_withTheAnchorsMark() throws {
        let root = try mapping("base: &b {port: 1}\ncopy: *b\nname: &n redis\nagain: *n\n")
        guard case .mapping(let copy)? = value(root, "copy") else { throw TestFailure("copy is not a mapping") }
        #expect(value(copy, "port")?.string == "1")
        #expect(copy.mark.line == 1)
        #expect(value(root, "again")?.string == "redis")
    }

    @Test func test_alias_namesTheLatestAnchorOfThatName() throws {
        let root = try mapping("a: &x one\nb: *x\nc: &x two\nd: *x\n")
        #expect(value(root, "b")?.string == "one")
        #expect(value(root, "d")?.string == "two")
    }

    @Test func test_alias_undefined_isAnErrorNamingLineAndKey() {
        expectError("a: 1\nb:\n  c: *nowhere\n", line: 3, key: "b.c", containing: "found undefined alias *nowhere")
        // An anchor is defined once its node is complete: a collection cannot contain itself.
        expectError("a: &self [*self]\n", line: 1, key: "a", containing: "found undefined alias *self")
    }

    @Test func test_aliasBomb_isRefused_beforeItExpands() {
        var lines = ["a: &a [\(Array(repeating: "x", count: 10).joined(separator: ","))]"]
        for (previous, name) in zip("abcdefg".map(String.init), "bcdefgh".map(String.init)) {
            lines.append("\(name): &\(name) [\(Array(repeating: "*\(previous)", count: 10).joined(separator: ","))]")
        }
        // `f` (line 6) expands to 1,111,111 nodes; `h` would be 10^8 scalars, in 250 bytes.
        expectError(lines.joined(separator: "\n") + "\n", line: 6, key: "f",
                    containing: "aliases expand to more than \(YAMLComposer.nodeLimit) nodes")
    }

    @Test func test_aliases_withinTheNodeLimit_compose() throws {
        // 111,111 nodes once expanded: far under the limit, far over the text's size.
        var lines = ["a: &a [\(Array(repeating: "x", count: 10).joined(separator: ","))]"]
        for (previous, name) in zip("abcd".map(String.init), "bcde".map(String.init)) {
            lines.append("\(name): &\(name) [\(Array(repeating: "*\(previous)", count: 10).joined(separator: ","))]")
        }
        let root = try mapping(lines.joined(separator: "\n") + "\n")
        guard case .sequence(let e)? = value(root, "e"), case .sequence(let d) = e[9] else { throw TestFailure("e is not nested") }
        #expect(d.count == 10)
    }

    @Test func test_nesting_deeperThanTheLimit_isRefused() throws {
        let deep = YAMLComposer.depthLimit
        #expect(try compose("x: " + String(repeating: "[", count: deep - 1) + String(repeating: "]", count: deep - 1) + "\n") != nil)
        expectError("x: " + String(repeating: "[", count: deep) + String(repeating: "]", count: deep) + "\n",
                    line: 1, key: "x", containing: "nested deeper than \(deep) levels")
    }

    @Test func test_duplicateKey_isRefused_namingBothLines() {
        expectError("a:\n  b: 1\n  c: 2\n  b: 3\n", line: 4, key: "a.b", containing: "duplicate key (first at line 2)")
        // The same text is the same key whatever its quoting: the readers look keys up by text.
        expectError("'1': x\n1: y\n", line: 2, key: "1", containing: "duplicate key (first at line 1)")
        expectError("k: &k name\n*k : y\nname: z\n", line: 3, key: "name", containing: "duplicate key (first at line 2)")
    }

    @Test func test_sameKey_inDifferentMappings_isNoDuplicate() throws {
        let root = try mapping("a: {x: 1}\nb: {x: 2}\n")
        #expect(root.count == 2)
    }

    @Test func test_malformedYAML_isAnErrorNamingTheLine() {
        expectError("a: 1\nb: [1, 2\n", line: 3, key: "", containing: "invalid YAML: did not find expected ',' or ']'")
        expectError("a: 1\n  b: 2\n", line: 2, key: "", containing: "invalid YAML: mapping values are not allowed in this context")
        expectError("a: \"unterminated\n", line: 2, key: "", containing: "invalid YAML: found unexpected end of stream")
        expectError("a: 1\nb: \u{7}\n", line: 2, key: "", containing: "invalid YAML: control characters are not allowed")
    }

    @Test func test_secondDocument_isRefused() {
        expectError("a: 1\n---\nb: 2\n", line: 2, key: "", containing: "expected a single document, but found another")
    }
}
