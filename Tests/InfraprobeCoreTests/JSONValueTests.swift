import Foundation
import Testing
@testable import InfraprobeCore

@Suite("JSON parser")
struct JSONValueTests {
    func decode(_ text: String) throws(JSONError) -> JSONValue { try JSONValue.decode(Array(text.utf8)) }

    func error(_ bytes: [UInt8]) -> JSONError? {
        do { _ = try JSONValue.decode(bytes); return nil } catch { return error }
    }

    @Test func test_json_parsesEveryValueKind() throws {
        let value = try decode(#" {"a": [1, -2.5e2, true, false, null, "x"], "b": {}} "#)
        #expect(value == ["a": [1, -250.0, true, false, nil, "x"], "b": .object([:])])
    }

    @Test func test_json_boundsNestingDepth_withAClearError() throws {
        let limit = JSONParser.maxDepth
        let justInside = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        #expect(throws: Never.self) { try decode(justInside) }
        let tooDeep = Array(String(repeating: "[", count: limit + 1).utf8) + Array(String(repeating: "]", count: limit + 1).utf8)
        #expect(error(tooDeep)?.message == "nesting deeper than \(limit) levels")
        // A hostile body of a million brackets is refused without exhausting the stack.
        #expect(error(Array(repeating: UInt8(ascii: "["), count: 1_000_000))?.message == "nesting deeper than \(limit) levels")
        #expect(error(Array(String(repeating: "{\"a\":", count: limit + 1).utf8))?.message == "nesting deeper than \(limit) levels")
    }

    @Test func test_json_decodesEscapes_andSurrogatePairs() throws {
        let value = try decode(#""\"\\\/\b\f\n\r\t\u0041\u00e9\ud83d\ude00""#)
        #expect(value.string == "\"\\/\u{8}\u{c}\n\r\tAé😀")
    }

    @Test func test_json_refusesLoneSurrogates_andBadEscapes() {
        #expect(error(Array(#""\ud83d""#.utf8))?.message == "high surrogate escape without a low surrogate")
        #expect(error(Array(#""\ud83d\u0041""#.utf8))?.message == "high surrogate escape without a low surrogate")
        #expect(error(Array(#""\ude00""#.utf8))?.message == "lone low surrogate escape")
        #expect(error(Array(#""\x""#.utf8))?.message == "invalid escape")
        #expect(error(Array(#""\u12""#.utf8)) != nil)
        #expect(error(Array("\"a\nb\"".utf8))?.message == "control character in a string")
    }

    @Test func test_json_refusesInvalidUTF8() {
        #expect(error([UInt8(ascii: "\""), 0xC3, 0x28, UInt8(ascii: "\"")])?.message == "string is not valid UTF-8")
        #expect(error([UInt8(ascii: "\""), 0xED, 0xA0, 0x80, UInt8(ascii: "\"")])?.message == "string is not valid UTF-8")
        #expect(error([UInt8(ascii: "\""), 0xFF, UInt8(ascii: "\"")])?.message == "string is not valid UTF-8")
    }

    @Test func test_json_readsNumbersBeyondDouble_asNoNumber_andNegativeZeroAsZero() throws {
        let huge = try decode("[1e999, -1e400, " + String(repeating: "9", count: 400) + "]")
        for item in huge.array ?? [] {
            #expect(item.double == nil && item.int == nil)
        }
        #expect(huge.array?.count == 3)
        #expect(String(decoding: huge.serialized, as: UTF8.self) == "[null,null,null]")
        let zero = try decode("-0")
        #expect(zero.double == 0 && zero.int == 0)
        #expect(try decode("1e-400").double == 0)
    }

    @Test func test_json_refusesMalformedNumbers() {
        for text in ["01", "1.", ".5", "1e", "+1", "-", "0x10", "1e+", "NaN", "Infinity"] {
            #expect(error(Array(text.utf8)) != nil, "\(text)")
        }
    }

    @Test func test_jsonInt_isNilForFractions_hugeValues_andNonNumbers() throws {
        #expect(try decode("1e300").int == nil)
        #expect(try decode("1e300").double == 1e300)
        #expect(try decode("2.5").int == nil)
        #expect(try decode("9223372036854775807").int == nil)  // rounds up to 2^63 as a Double
        #expect(try decode("-9007199254740992").int == -9_007_199_254_740_992)
        #expect(try decode(#""9223372036854775807""#).int == Int.max)  // int64 as a string (jsonpb) is exact
        #expect(try decode(#""1e999""#).double == nil)
        #expect(try decode(#""nan""#).double == nil)
        #expect(try decode(#""12""#).int == 12)
        #expect(try decode("true").int == 1)
        #expect(try decode("null").int == nil)
    }

    @Test func test_json_duplicateKeys_keepTheLastValue() throws {
        #expect(try decode(#"{"a": 1, "a": 2}"#)["a"] == 2)
        #expect(try decode(#"{"a": {"x": 1}, "a": "s"}"#)["a"]?.string == "s")
    }

    @Test func test_json_refusesTrailingText_andTruncatedDocuments() {
        for text in ["", " ", "[1,]", "{\"a\":1,}", "[1] x", "{\"a\" 1}", "{1: 2}", "[", "\"abc", "tru", "nul", "[1 2]"] {
            #expect(error(Array(text.utf8)) != nil, "\(text)")
        }
        #expect(error(Array("[1] x".utf8)) == JSONError(message: "unexpected text after the JSON value", offset: 4))
    }

    @Test("a valid prefix followed by garbage is not JSON (it used to parse as null, which reads as Consul's empty peers)",
          arguments: ["1234x", "{}x", "[\"10.1.10.12:8300\"]garbage", "null x", "true false"])
    func test_jsonParse_rejectsTrailingGarbage(_ text: String) {
        #expect(JSONValue.parse(Array(text.utf8)) == Optional<JSONValue>.none)
    }

    @Test("a literal null document is JSON null")
    func test_jsonParse_acceptsNullDocument() {
        #expect(JSONValue.parse(Array(" null \n".utf8)) == Optional<JSONValue>.some(.null))
    }

    @Test func test_json_serializedForm_parsesBackToTheSameValue() throws {
        let value = try decode(#"{"b": [1e300, -0, 5e-324, 0.1, "\u0001\u001f\"\\"], "a": {"k": null}}"#)
        let again = try JSONValue.decode(value.serialized)
        #expect(again == value)
        #expect(String(decoding: value.serialized, as: UTF8.self) == #"{"a":{"k":null},"b":[1e+300,0,5e-324,0.1,"\u0001\u001f\"\\"]}"#)
    }
}
