import Testing
@testable import InfraprobeCore

@Suite("JSON parsing of service answers")
struct JSONValueTests {
    @Test("a valid prefix followed by garbage is not JSON (it used to parse as null, which reads as Consul's empty peers)",
          arguments: ["1234x", "{}x", "[\"10.1.10.12:8300\"]garbage", "null x", "true false"])
    func test_jsonParse_rejectsTrailingGarbage(_ text: String) {
        #expect(JSONValue.parse(Array(text.utf8)) == Optional<JSONValue>.none)
    }

    @Test("a literal null document is JSON null")
    func test_jsonParse_acceptsNullDocument() {
        #expect(JSONValue.parse(Array(" null \n".utf8)) == Optional<JSONValue>.some(.null))
    }
}
