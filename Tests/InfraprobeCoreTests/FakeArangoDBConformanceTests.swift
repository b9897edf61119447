import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// FakeArangoDB checked against the recordings of real ArangoDB 3.11.14 / 3.12.10: for every
/// endpoint the prober uses, the fake's answer to the same kind of request has the recorded
/// status and the recorded fields with the recorded JSON types (values may differ).
@Suite("FakeArangoDB answers with the recorded ArangoDB 3.11/3.12 shapes")
struct FakeArangoDBConformanceTests {
    final class Session: @unchecked Sendable {
        let fake: FakeArangoDB
        var mismatches: [String] = []
        init(_ fake: FakeArangoDB) { self.fake = fake }

        func send(_ method: String, _ path: String, _ body: JSONValue? = nil) async -> (Int, JSONValue?) {
            let request = HTTPClientRequest(method: method, url: fake.url + path, headers: body == nil ? [] : [("Content-Type", "application/json")],
                                            body: body?.serialized, auth: .basic(username: fake.username, password: Secret(fake.password)),
                                            deadline: .after(.seconds(5)))
            guard case .response(let response) = await HTTPClient.shared.send(request) else { return (0, nil) }
            return (response.status, JSONValue.parse(response.body))
        }

        /// Sends the request and compares the answer with response `n` of the recording.
        @discardableResult
        func compare(_ method: String, _ path: String, _ body: JSONValue? = nil, with file: String, _ n: Int = 0,
                     free: Set<String> = []) async throws -> JSONValue? {
            let recorded = try Transcript.load("arangodb/" + file).response(n)
            let (status, json) = await send(method, path, body)
            if status != recorded.status { mismatches.append("\(method) \(path): status \(status), recorded \(recorded.status) (\(file))") }
            guard let json, let want = recorded.json else {
                mismatches.append("\(method) \(path): no JSON to compare (\(file))")
                return json
            }
            mismatches += JSONShape.differences(json, want, free: free).map { "\(method) \(path) vs \(file): \($0)" }
            return json
        }
    }

    /// Fields a document, graph or index list holds for the user (their names are the user's).
    static let userContent: Set<String> = ["hello", "v", "nonce", "sku", "value", "identifiers", "result"]

    @Test("every endpoint the prober uses, on 3.12.10", arguments: [false, true])
    func test_fakeArangoDB_matchesRecorded312(waitForSync: Bool) async throws {
        let fake = FakeArangoDB(version: "3.12.10", waitForSync: waitForSync)
        try fake.start()
        defer { fake.stop() }
        let s = Session(fake)
        try await s.compare("GET", "/_db/_system/_api/version", with: "version/200-3.12.http")
        try await s.compare("POST", "/_db/_system/_api/database", ["name": "example"], with: "database/create-201.http")
        try await s.compare("GET", "/_db/_system/_api/database", with: "database/list-200.http")
        try await s.compare("GET", "/_db/example/_api/database/current", with: "database/current-200.http")
        try await s.compare("DELETE", "/_db/_system/_api/database/example", with: "database/drop-200.http")
        try await s.compare("POST", "/_db/_system/_api/collection", ["name": "products", "type": 2], with: "collection/create-200.http")
        try await s.compare("GET", "/_db/_system/_api/collection/products/properties", with: "collection/properties-by-name-200.http")
        try await s.compare("GET", "/_db/_system/_api/collection/products/count", with: "collection/count-200.http")
        try await s.compare("POST", "/_db/_system/_api/document/products", ["_key": "k1", "hello": "world"],
                            with: waitForSync ? "document/post-201-waitForSync.http" : "document/post-202-accepted.http")
        try await s.compare("GET", "/_db/_system/_api/document/products/k1", with: "document/get-200.http", free: Self.userContent)
        if !waitForSync { try await s.compare("PATCH", "/_db/_system/_api/document/products/k1", ["hello": "again"], with: "document/patch-202.http") }
        try await s.compare("DELETE", "/_db/_system/_api/document/products/k1", with: waitForSync ? "document/delete-200.http" : "document/post-202-accepted.http")
        try await s.compare("GET", "/_db/_system/_api/document/products/k1", with: "document/get-unknown-404.http")
        let many: JSONValue = [["hello": "a"], ["hello": "b"], ["hello": "c"]]
        if waitForSync { _ = await s.send("POST", "/_db/_system/_api/document/products", many) } else {
            try await s.compare("POST", "/_db/_system/_api/document/products", many, with: "document/post-multi-202.http")
        }
        try await s.compare("POST", "/_db/_system/_api/index?collection=products", ["type": "persistent", "fields": ["a", "b"]], with: "index/create-persistent-201.http")
        try await s.compare("GET", "/_db/_system/_api/index?collection=products", with: "index/list-200.http", free: Self.userContent)
        try await s.compare("POST", "/_db/_system/_api/cursor", ["query": "FOR p IN products LIMIT 2 RETURN p", "count": true],
                            with: "cursor/create-201-single-batch.http", free: Self.userContent)
        // Batched: 5 documents in batches of 2, continued with POST /_api/cursor/<id>, then DELETE 202.
        for n in 0..<2 { _ = await s.send("POST", "/_db/_system/_api/document/products", ["hello\(n)": "x"]) }
        let first = try await s.compare("POST", "/_db/_system/_api/cursor", ["query": "FOR p IN products LIMIT 5 RETURN p", "count": true, "batchSize": 2],
                                        with: "cursor/create-201-hasMore.http", free: Self.userContent)
        let id = first?["id"]?.string ?? "none"
        try await s.compare("POST", "/_db/_system/_api/cursor/\(id)", with: "cursor/next-batch-post-200.http", free: Self.userContent)
        try await s.compare("DELETE", "/_db/_system/_api/cursor/\(id)", with: "cursor/delete-202.http", 1)
        try await s.compare("POST", "/_db/_system/_api/cursor/123123", with: "cursor/post-invalid-cursor-id-404.http")
        try await s.compare("POST", "/_db/_system/_api/cursor", ["query": "FOR u IN unknowncoll LIMIT 2 RETURN u"], with: "cursor/unknown-collection-404.http")
        // Recorded on collections without waitForSync: gharial then answers 202 (201 with waitForSync, per the OpenAPI).
        if !waitForSync {
            try await s.compare("POST", "/_db/_system/_api/gharial", ["name": "social", "edgeDefinitions": [["collection": "relation", "from": ["female", "male"], "to": ["female", "male"]]]],
                                with: "gharial/create-202.http", free: ["edgeDefinitions"])
            try await s.compare("POST", "/_db/_system/_api/gharial/social/vertex/male", ["name": "Francis"], with: "gharial/vertex-add-202.http")
            try await s.compare("POST", "/_db/_system/_api/gharial/social/edge/relation", ["_from": "female/alice", "_to": "male/bob", "type": "friend"],
                                with: "gharial/edge-add-202.http")
            try await s.compare("DELETE", "/_db/_system/_api/gharial/social?dropCollections=true", with: "gharial/drop-202.http")
        }
        try await s.compare("DELETE", "/_db/_system/_api/collection/products", with: "collection/drop-by-name-200.http")
        try await s.compare("POST", "/_db/_system/_api/document/products", ["a": 1], with: "document/post-unknown-collection-404.http")
        #expect(s.mismatches.isEmpty, "\(s.mismatches.joined(separator: "\n"))")
    }

    /// errorNum → text from the official catalogue (errors-3.12.yaml).
    static func catalogue() throws -> [Int: String] {
        let text = String(decoding: try Conformance.data("arangodb/errors/errors-3.12.yaml"), as: UTF8.self)
        var result: [Int: String] = [:]
        var pendingText: String?
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("text: ") { pendingText = String(trimmed.dropFirst(6)).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            if trimmed.hasPrefix("code: "), let code = Int(trimmed.dropFirst(6)), let text = pendingText { result[code] = text; pendingText = nil }
        }
        return result
    }

    @Test("graph conflicts are 409 (README disagreement 2), with the catalogue's errorNum and text")
    func test_fakeArangoDB_graphConflicts_are409() async throws {
        let fake = FakeArangoDB()
        try fake.start()
        defer { fake.stop() }
        let s = Session(fake)
        let catalogue = try Self.catalogue()
        let graph: JSONValue = ["name": "g1", "edgeDefinitions": [["collection": "e", "from": ["a"], "to": ["b"]]]]
        #expect(await s.send("POST", "/_db/_system/_api/gharial", graph).0 == 202)
        let duplicate = await s.send("POST", "/_db/_system/_api/gharial", graph)
        #expect(duplicate.0 == 409 && duplicate.1?["errorNum"]?.int == 1925 && duplicate.1?["errorMessage"]?.string == catalogue[1925])
        let clash = await s.send("POST", "/_db/_system/_api/gharial", ["name": "g2", "edgeDefinitions": [["collection": "e", "from": ["a"], "to": ["c"]]]])
        #expect(clash.0 == 409 && clash.1?["errorNum"]?.int == 1921 && clash.1?["errorMessage"]?.string == catalogue[1921], "\(String(describing: clash.1))")
        let cursor = await s.send("POST", "/_db/_system/_api/cursor/999")
        #expect(cursor.1?["errorNum"]?.int == 1600 && cursor.1?["errorMessage"]?.string == catalogue[1600])
    }

    @Test("the 3.11.14 recordings: version and collection create")
    func test_fakeArangoDB_matchesRecorded311() async throws {
        let fake = FakeArangoDB(version: "3.11.14")
        try fake.start()
        defer { fake.stop() }
        let s = Session(fake)
        try await s.compare("GET", "/_db/_system/_api/version", with: "version/200-3.11.http")
        try await s.compare("POST", "/_db/_system/_api/collection", ["name": "testCollectionBasics", "type": 2], with: "collection/create-200-3.11.http")
        try await s.compare("POST", "/_db/_system/_api/collection", ["name": "testCollectionEdges", "type": 3], with: "collection/create-200-3.11.http", 1)
        #expect(s.mismatches.isEmpty, "\(s.mismatches.joined(separator: "\n"))")
    }

    @Test("unauthenticated requests get the recorded 401 envelope; metrics are text/plain with the recorded series names",
          arguments: ["3.11.14", "3.12.10"])
    func test_fakeArangoDB_errorsAndMetrics(version: String) async throws {
        let fake = FakeArangoDB(version: version)
        try fake.start()
        defer { fake.stop() }
        let unauthorized = try await HTTPFetch.getOffPool(fake.url + "/_api/version", headers: ["X-Omit-Www-Authenticate": "1"])
        let recorded = try Transcript.load("arangodb/errors/401-unauthenticated.http").response()
        #expect(unauthorized.status == 401)
        #expect(JSONShape.differences(try #require(JSONValue.parse(Array(unauthorized.body))), try #require(recorded.json)).isEmpty)
        let auth = "Basic " + Data("\(fake.username):\(fake.password)".utf8).base64EncodedString()
        let metrics = try await HTTPFetch.getOffPool(fake.url + "/_admin/metrics/v2", headers: ["Authorization": auth])
        let file = version.hasPrefix("3.11") ? "arangodb/metrics/v2-200-3.11.http" : "arangodb/metrics/v2-200.http"
        let real = try Transcript.load(file).response()
        #expect(metrics.headers["content-type"] == real.header("content-type"))
        let realNames = Set(PrometheusText.parse(real.text).map(\.name))
        let fakeSamples = PrometheusText.parse(metrics.text)
        #expect(!fakeSamples.isEmpty && Set(fakeSamples.map(\.name)).isSubset(of: realNames), "\(Set(fakeSamples.map(\.name)).subtracting(realNames))")
        // 3.11 writes unlabelled series as `name{} value`, as recorded.
        #expect(metrics.text.contains("arangodb_scheduler_queue_length{} ") == version.hasPrefix("3.11"))
        #expect(real.text.contains("{} ") == version.hasPrefix("3.11"))
    }
}
