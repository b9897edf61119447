import Foundation
import Testing
@testable import InfraprobeCore

@Suite("Replay server: serves recorded real-service transcripts")
struct ReplayServerTests {
    @Test("an ArangoDB transcript parses: provenance, the curl request, status, headers, compacted body matching the recorded length")
    func test_transcript_parsesArangoDBRecording() throws {
        let transcript = try Transcript.load("arangodb/cursor/delete-202.http")
        #expect(transcript.provenance.first?.hasPrefix("# source: arangodb/docs-hugo") == true)
        #expect(transcript.requests == [RecordedRequest(method: "POST", path: "/_api/cursor", query: [:]),
                                        RecordedRequest(method: "DELETE", path: "/_api/cursor/74329", query: [:])])
        #expect(transcript.responses.map(\.status) == [201, 202])
        let deleted = try transcript.response(1)
        #expect(deleted.text == #"{"id":"74329","error":false,"code":202}"#)
        #expect(deleted.body.count == 39, "the note says the compact body matches content-length 39")
        #expect(deleted.header("content-length") == nil, "framing headers are recomputed by the server")
        #expect(deleted.header("server") == "ArangoDB")
    }

    @Test("a verbatim non-JSON body keeps its exact bytes (Tempo <= 2.4 404 body has no trailing newline)")
    func test_transcript_keepsVerbatimTextBody() throws {
        #expect(try Transcript.load("tempo/traces-v1/404-not-found-le-2.4.http").response().text == "trace not found")
        #expect(try Transcript.load("tempo/traces-v1/404-not-found-ge-2.5.http").response().body.isEmpty)
        #expect(try Transcript.load("tempo/ready/200.http").response().text == "ready\n")
    }

    @Test("a missing transcript fails the test instead of skipping it")
    func test_transcript_missingFileThrows() {
        #expect(throws: Conformance.MissingMaterial.self) { try Transcript.load("arangodb/no-such-file.http") }
    }

    @Test("path patterns: * matches one segment, a final ** the rest")
    func test_route_pathPatterns() {
        #expect(ReplayServer.Route.match(pattern: "/_db/*/_api/version", path: "/_db/_system/_api/version"))
        #expect(!ReplayServer.Route.match(pattern: "/_db/*/_api/version", path: "/_db/_system/_api/version/x"))
        #expect(ReplayServer.Route.match(pattern: "/api/**", path: "/api/a/b/c"))
        #expect(!ReplayServer.Route.match(pattern: "/api/*", path: "/other"))
    }

    @Test("serves the recorded bytes for a matching route, in turn, and reports strays")
    func test_replayServer_servesRecordedResponses() async throws {
        let version = try Transcript.load("arangodb/version/200-3.11.http").response()
        let cursor = try Transcript.load("arangodb/cursor/delete-202.http")
        let replay = try ReplayServer.started([
            .init("GET", "/_db/*/_api/version", version),
            .init("DELETE", "/_api/cursor/*", responses: [try cursor.response(1), try cursor.response(0)]),
            .init("GET", "/_api/index", query: ["collection": "*"], version),
        ])
        defer { replay.stop() }
        let fetched = try await HTTPFetch.getOffPool(replay.url + "/_db/_system/_api/version")
        #expect(fetched.status == 200)
        #expect(fetched.text == #"{"server":"arango","license":"enterprise","version":"3.11.14"}"#)
        #expect(fetched.headers["content-length"] == "62", "the compact body matches the recorded content-length")
        #expect(fetched.headers["content-type"] == "application/json")
        let first = try await BlockingExecutor.shared.run { Result { try HTTPFetch.get(replay.url + "/_api/cursor/1", method: "DELETE") } }.get()
        let second = try await BlockingExecutor.shared.run { Result { try HTTPFetch.get(replay.url + "/_api/cursor/1", method: "DELETE") } }.get()
        let third = try await BlockingExecutor.shared.run { Result { try HTTPFetch.get(replay.url + "/_api/cursor/1", method: "DELETE") } }.get()
        let statuses: [Int] = [first.status, second.status, third.status]
        #expect(statuses == [202, 201, 201])
        #expect(try await HTTPFetch.getOffPool(replay.url + "/_api/index").status == 599, "query parameter required")
        #expect(try await HTTPFetch.getOffPool(replay.url + "/_api/index?collection=x").status == 200)
        #expect(replay.unmatched == ["GET /_api/index"])
    }
}
