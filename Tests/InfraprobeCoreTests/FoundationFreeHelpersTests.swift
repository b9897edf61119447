import Foundation
import Testing
@testable import InfraprobeCore

/// The release binary links no swift-corelibs Foundation: these helpers stand in for the
/// Foundation APIs the exporter used, and must write byte for byte what those wrote.
@Suite("Foundation-free helpers")
struct FoundationFreeHelpersTests {
    @Test func test_prettyPrinted_matchesJSONSerialization_prettyPrintedSortedKeys() throws {
        let value: JSONValue = [
            "overall_health_ratio": 0.5,
            "targets": [
                ["target": "a/b \"q\" é\u{1}\u{8}\u{c}\t\r\n\\", "health_ratio": 1.0, "success": true, "version": nil,
                 "duration_seconds": .number(0.001234567), "components": [], "hop": "2", "tiny": .number(1e-7),
                 "big": .number(12_345_678_901_234.5), "huge": .number(1e16), "empty": .object([:]), "n": -3],
            ],
        ]
        let data = try JSONSerialization.data(withJSONObject: foundationObject(value), options: [.prettyPrinted, .sortedKeys])
        #expect(value.prettyPrinted == String(decoding: data, as: UTF8.self))
    }

    @Test func test_cFormat_matchesStringFormat() {
        for number in [0, 0.05, 12.25, 12.35, 99.95, 1234.5678, -0.04, 1e9] {
            for format in ["%8.1f ms", "%.1f%%", "%.3fs", "%.0f", "   +%.4fs "] {
                #expect(CFormat.string(format, number) == String(format: format, number))
            }
        }
        #expect(CFormat.string("took %.3fs, %ld/%ld components passed\n", 0.5, 3, 7) == "took 0.500s, 3/7 components passed\n")
        let long = String(repeating: "x", count: 300)
        #expect(CFormat.string("%@-%.1f".replacingOccurrences(of: "%@", with: long), 1.25) == long + "-1.2")
    }

    @Test func test_trimming_matchesCharacterSetWhitespaces() {
        for text in ["", " ", "  ab\t\u{A0}\n", "\u{2003}x y\u{3000}", "\n\r x \u{85}\u{2028}", "\t\t", "é\u{301} "] {
            #expect(text.trimmingWhitespace() == text.trimmingCharacters(in: .whitespaces))
            #expect(text.trimmingWhitespaceAndNewlines() == text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    @Test func test_replacingEvery_replacesEachOccurrence_leftToRight() {
        #expect("a//b///c".replacingEvery("//", with: "/") == "a/b//c")
        #expect(#"say "hi" \ "#.replacingEvery("\\", with: "\\\\").replacingEvery("\"", with: "\\\"") == #"say \"hi\" \\ "#)
        // A combining mark after a backslash still leaves the backslash escaped.
        #expect("\\\u{301}".replacingEvery("\\", with: "\\\\") == "\\\\\u{301}")
        #expect("".replacingEvery("/", with: "-") == "")
    }

    @Test func test_lastRange_findsTheLastOccurrence() {
        let text = "infraprobe x at a at b"
        let range = text.lastRange(of: " at ")
        #expect(range.map { String(text[$0.upperBound...]) } == "b")
        #expect("abc".lastRange(of: "x") == nil)
        #expect("a__b__".dropLast(2).lastRange(of: "__") != nil)
    }

    @Test func test_iso8601Timestamp_matchesISO8601DateFormatter() {
        let formatter = ISO8601DateFormatter()
        for seconds in [0, 1_764_623_406.9, 951_782_400, 4_102_444_799.999, 1_000_000_000] {
            #expect(ISO8601Timestamp.string(fromUnixSeconds: seconds) == formatter.string(from: Date(timeIntervalSince1970: seconds)))
        }
    }

    @Test func test_percentEncoding_keepsOnlyUnreservedASCII() {
        #expect(PercentEncoding.encode("a-b._~Z9") == "a-b._~Z9")
        #expect(PercentEncoding.encode("a b/c?d=e&f") == "a%20b%2Fc%3Fd%3De%26f")
        #expect(PercentEncoding.encode("é") == "%C3%A9")
    }

    @Test func test_hexString_isTwoLowercaseDigitsPerByte() {
        #expect(HexString.lowercase([0, 1, 0xab, 0xff]) == "0001abff")
        #expect(HexString.lowercase([UInt8]()) == "")
    }

    @Test func test_pthreadCondition_timedWait_returnsFalseAfterTheTimeout_andTrueWhenSignalled() async {
        let condition = PthreadCondition()
        condition.lock()
        let start = ContinuousClock.now
        #expect(condition.wait(timeout: .milliseconds(30)) == false)
        #expect(ContinuousClock.now - start >= .milliseconds(30))
        condition.unlock()
        let woken = Locked(false)
        NativeThread.start(name: "test-signaller") {
            usleep(20_000)
            condition.lock()
            woken.withLock { $0 = true }
            condition.signal()
            condition.unlock()
        }
        condition.lock()
        while !woken.current { _ = condition.wait(timeout: .seconds(10)) }
        condition.unlock()
        #expect(woken.current)
    }

    private func foundationObject(_ value: JSONValue) -> Any {
        switch value {
        case .null: return NSNull()
        case .bool(let bool): return bool
        case .number(let number): return number
        case .string(let string): return string
        case .array(let array): return array.map(foundationObject)
        case .object(let object): return object.mapValues(foundationObject)
        }
    }
}
