import Foundation
import Testing
@testable import InfraprobeCore

@Suite("JSONArrayCounter: counting a streamed JSON array without keeping it")
struct JSONArrayCounterTests {
    func count(_ chunks: [String]) -> (Int, Bool) {
        let counter = JSONArrayCounter()
        for chunk in chunks { Array(chunk.utf8).withUnsafeBytes { counter.consume($0) } }
        return (counter.count, counter.isComplete)
    }

    @Test("elements are counted across chunk boundaries; brackets, braces, commas and escaped quotes inside strings do not count")
    func test_counter_countsTopLevelElements_acrossChunks() {
        let body = #"[{"CheckID":"a","Output":"x, [y] {z} \"q\", ,"},{"CheckID":"b","Nested":[1,2,{"k":[3]}]} , "plain", 7]"#
        let bytes = Array(body)
        for split in [1, 2, 7, body.count / 2, body.count - 1] {
            #expect(count([String(bytes[..<split]), String(bytes[split...])]) == (4, true), "split at \(split)")
        }
        #expect(count(["[]"]) == (0, true))
        #expect(count([" [ ] \n"]) == (0, true))
        #expect(count(["[{}]"]) == (1, true))
    }

    @Test("a truncated array, a non-array and trailing garbage are not complete")
    func test_counter_rejectsIncompleteOrNonArrayBodies() {
        #expect(count(["[{\"a\":1},"]).1 == false)
        #expect(count(["{\"a\":[1,2]}"]).1 == false)
        #expect(count(["No cluster leader"]).1 == false)
        #expect(count(["[1,2] x"]).1 == false)
        #expect(count([""]).1 == false)
    }
}
