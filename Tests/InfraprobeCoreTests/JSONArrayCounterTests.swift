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

    @Test("through the HTTP client: an 8 MB array is counted past the 4 MiB cap, and the response keeps only its head")
    func test_httpClient_streamsBodyToConsumer_pastTheBodyCap() async throws {
        let element = #"{"CheckID":"c","Output":""# + String(repeating: "y", count: 4000) + #""}"#
        let body = "[" + Array(repeating: element, count: 2_000).joined(separator: ",") + "]"
        let server = try LoopbackTestServer { _ in HTTPResponse(status: 200, contentType: "application/json", body: body) }
        let url = "http://127.0.0.1:\(server.port)/v1/health/state/critical"
        let counter = JSONArrayCounter()
        var request = HTTPClientRequest(url: url, deadline: .after(.seconds(10)), maxBodyBytes: 64 * 1024 * 1024)
        request.bodyConsumer = counter
        let streamed = await HTTPClient.shared.send(request)
        let capped = await HTTPClient.shared.send(HTTPClientRequest(url: url, deadline: .after(.seconds(10))))
        var small = HTTPClientRequest(url: url, deadline: .after(.seconds(10)), maxBodyBytes: 1024 * 1024)
        small.bodyConsumer = JSONArrayCounter()
        let bounded = await HTTPClient.shared.send(small)
        await server.stopOffPool()
        guard case .response(let response) = streamed else { Issue.record("\(streamed)"); return }
        #expect(body.utf8.count > 8_000_000)
        #expect(counter.isComplete && counter.count == 2_000)
        #expect(response.body.count == HTTPBodyConsumerLimits.keptBytes)
        guard case .failure(let error) = capped else { Issue.record("the 4 MiB cap let \(body.utf8.count) B through"); return }
        #expect(error.reason == .unexpectedResponse)
        guard case .failure(let limit) = bounded else { Issue.record("a streamed body is still bounded by maxBodyBytes"); return }
        #expect(limit.message.contains("larger than"))
    }
}
