import Foundation
import Testing
@testable import InfraprobeCore

/// Every ArangoDB component run against what real ArangoDB 3.11.14 / 3.12.10 servers answered
/// (shared/conformance/arangodb, recorded by the docs generator), served by `ReplayServer`. The
/// recordings were made for other names (`products`, `myGraph`); a route adapts names and the
/// values the probe wrote (what any server would echo back), never fields, types or statuses.
@Suite("ArangoDB prober against recorded ArangoDB 3.11 and 3.12 transcripts")
struct ArangoDBConformanceTests {
    typealias Route = ReplayServer.Route

    static func r(_ file: String, _ n: Int = 0) throws -> RecordedResponse { try Transcript.load("arangodb/" + file).response(n) }

    static func segment(_ request: HTTPRequest, _ index: Int) -> String {
        let parts = request.path.split(separator: "/").map(String.init)
        return parts.indices.contains(index) ? parts[index] : ""
    }

    static func bodyJSON(_ request: HTTPRequest) -> JSONValue? { JSONValue.parse(request.body) }

    /// Source-derived (RestAdminServerHandler::handleAvailability → writeModeResult): no transcript exists.
    static let available = RecordedResponse(status: 200, headers: [("content-type", "application/json")],
                                            body: Array(#"{"error":false,"code":200,"mode":"default"}"#.utf8))

    static func serviceRunning(version: String) throws -> [Route] {
        [Route("GET", "/_admin/server/availability", available),
         Route("GET", "/_db/*/_api/version", try r("version/200-\(version).http"))]
    }

    /// Create (name echoed), properties and count of the new collection, drop, then 404 for it.
    static func collection(create: RecordedResponse) throws -> [Route] {
        let notFound = try r("document/post-unknown-collection-404.http")
        return [
            Route("POST", "/_db/_system/_api/collection", create) { request, recorded in
                recorded.replacing("testCollectionBasics", with: bodyJSON(request)?["name"]?.string ?? "")
            },
            Route("GET", "/_db/_system/_api/collection/*/properties", try r("collection/properties-by-name-200.http")) { request, recorded in
                recorded.replacing("products", with: segment(request, 4))
            },
            Route("GET", "/_db/_system/_api/collection/*/count", try r("collection/count-200.http")) { request, recorded in
                recorded.replacing("products", with: segment(request, 4)).editingJSON { $0["count"] = 0 }
            },
            Route("DELETE", "/_db/_system/_api/collection/*", try r("collection/drop-by-name-200.http")),
            Route("GET", "/_db/_system/_api/collection/*", notFound) { request, recorded in recorded.replacing("products", with: segment(request, 4)) },
        ]
    }

    static func run(_ component: String, _ routes: [Route], extra: [String] = []) async throws -> (ProbeHarness.Outcome, ReplayServer) {
        // service_running gates every component, so its recorded answers are always there.
        let replay = try ReplayServer.started(routes + serviceRunning(version: "3.12"))
        let outcome = try await ProbeHarness.probe("arangodb", ["url: \(replay.url)", "username: root",
                                                                "password_file: \(try ProbeHarness.secretFile("pw"))",
                                                                "components: [\(component)]"] + extra)
        await replay.stopOffPool()
        return (outcome, replay)
    }

    static func expectPassed(_ component: String, _ outcome: ProbeHarness.Outcome, _ replay: ReplayServer,
                             sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(outcome.up(component), "\(outcome.summary)", sourceLocation: sourceLocation)
        #expect(replay.unmatched.isEmpty, "requests without a recording: \(replay.unmatched)", sourceLocation: sourceLocation)
    }

    @Test("service_running reads /_api/version as recorded on 3.11 and 3.12", arguments: ["3.11", "3.12"])
    func test_arangoReplay_serviceRunning(version: String) async throws {
        let (outcome, replay) = try await Self.run("service_running", try Self.serviceRunning(version: version))
        Self.expectPassed("service_running", outcome, replay)
        #expect(outcome.result.version == (version == "3.11" ? "3.11.14" : "3.12.10"))
    }

    @Test("performance_metrics parses the recorded /_admin/metrics/v2 of 3.11 and 3.12, and falls back to /_admin/metrics",
          arguments: ["metrics/v2-200-3.11.http", "metrics/v2-200.http", "fallback"])
    func test_arangoReplay_performanceMetrics(file: String) async throws {
        var routes = [Route]()
        if file == "fallback" {
            // 4.x removed /_admin/metrics/v2 (api-changes-in-4-x.md): the 404 envelope, then v1.
            routes = [Route("GET", "/_db/*/_admin/metrics/v2", try Self.r("document/post-unknown-collection-404.http")),
                      Route("GET", "/_db/*/_admin/metrics", try Self.r("metrics/v1-200.http"))]
        } else {
            routes = [Route("GET", "/_db/*/_admin/metrics/v2", try Self.r(file))]
        }
        let (outcome, replay) = try await Self.run("performance_metrics", routes)
        Self.expectPassed("performance_metrics", outcome, replay)
        for fact in ["infraprobe_arangodb_resident_memory_bytes", "infraprobe_arangodb_physical_memory_bytes", "infraprobe_arangodb_uptime_seconds",
                     "infraprobe_arangodb_http_requests", "infraprobe_arangodb_scheduler_queue_length", "infraprobe_arangodb_cpu_cores"] {
            #expect(outcome.fact(fact) != nil, "\(fact) missing from the recorded metrics: \(outcome.result.facts.map(\.name))")
        }
    }

    @Test("database_operations against the recorded create 201, list, current, drop")
    func test_arangoReplay_databaseOperations() async throws {
        let created = Locked("")
        let list = try Self.r("database/list-200.http")
        let routes = [
            Route("POST", "/_db/_system/_api/database", try Self.r("database/create-201.http")) { request, recorded in
                created.withLock { $0 = Self.bodyJSON(request)?["name"]?.string ?? "" }
                return recorded
            },
            Route("GET", "/_db/_system/_api/database", responses: [list, list]) { _, recorded in
                // Listed until the drop below clears `created`.
                recorded.editingJSON { object in
                    if !created.current.isEmpty { object["result"] = .array((object["result"]?.array ?? []) + [.string(created.current)]) }
                }
            },
            Route("GET", "/_db/*/_api/database/current", try Self.r("database/current-200.http")) { request, recorded in
                recorded.editingJSON { object in
                    object["result"] = object["result"]?.object.map { var result = $0; result["name"] = .string(Self.segment(request, 1)); result["isSystem"] = false; return .object(result) }
                }
            },
            Route("DELETE", "/_db/_system/_api/database/*", try Self.r("database/drop-200.http")) { _, recorded in
                created.withLock { $0 = "" }
                return recorded
            },
        ]
        let (outcome, replay) = try await Self.run("database_operations", routes)
        Self.expectPassed("database_operations", outcome, replay)
    }

    @Test("collection_operations against the recorded create (3.11 and 3.12), properties, count and drop",
          arguments: ["collection/create-200-3.11.http", "collection/create-200.http"])
    func test_arangoReplay_collectionOperations(create: String) async throws {
        let (outcome, replay) = try await Self.run("collection_operations", try Self.collection(create: Self.r(create)))
        Self.expectPassed("collection_operations", outcome, replay)
    }

    @Test("document_operations against the recorded insert 202, read 200, PATCH 202, delete 200 and 404")
    func test_arangoReplay_documentOperations() async throws {
        let inserted = Locked<[String: JSONValue]>([:])
        let read = try Self.r("document/get-200.http")
        let routes = try Self.collection(create: Self.r("collection/create-200.http")) + [
            Route("POST", "/_db/_system/_api/document/*", try Self.r("document/post-202-accepted.http")) { request, recorded in
                let body = Self.bodyJSON(request)?.object ?? [:]
                inserted.withLock { $0 = body }
                return recorded.editingJSON { object in
                    object["_key"] = body["_key"]
                    object["_id"] = .string("\(Self.segment(request, 4))/\(body["_key"]?.string ?? "")")
                    inserted.withLock { $0["_rev"] = object["_rev"] }
                }
            },
            Route("GET", "/_db/_system/_api/document/*/*", responses: [read, read, try Self.r("document/get-unknown-404.http")]) { request, recorded in
                guard recorded.status == 200 else { return recorded }
                return recorded.editingJSON { object in
                    for (key, value) in inserted.current { object[key] = value }
                }
            },
            Route("PATCH", "/_db/_system/_api/document/*/*", try Self.r("document/patch-202.http")) { request, recorded in
                let patch = Self.bodyJSON(request)?.object ?? [:]
                return recorded.editingJSON { object in
                    inserted.withLock { for (key, value) in patch { $0[key] = value }; $0["_rev"] = object["_rev"] }
                }
            },
            Route("DELETE", "/_db/_system/_api/document/*/*", try Self.r("document/delete-200.http")),
        ]
        let (outcome, replay) = try await Self.run("document_operations", routes)
        Self.expectPassed("document_operations", outcome, replay)
    }

    /// A recorded cursor answer carrying `rows` (the probe's own query result).
    static func cursor(_ rows: @escaping @Sendable (HTTPRequest) -> JSONValue) throws -> Route {
        Route("POST", "/_db/_system/_api/cursor", try r("cursor/create-201-single-batch.http")) { request, recorded in
            recorded.editingJSON { object in
                let result = rows(request)
                object["result"] = result
                object["count"] = .number(Double(result.array?.count ?? 0))
            }
        }
    }

    @Test("graph_operations against the recorded gharial create/vertex/edge 202, a 201 cursor and drop 202")
    func test_arangoReplay_graphOperations() async throws {
        let routes = [
            Route("POST", "/_db/_system/_api/gharial", try Self.r("gharial/create-202.http")) { request, recorded in
                let body = Self.bodyJSON(request)
                let definition = body?["edgeDefinitions"]?[0]
                return recorded.replacing("myGraph", with: body?["name"]?.string ?? "")
                    .replacing("startNodes", with: definition?["from"]?[0]?.string ?? "")
                    .replacing("endNodes", with: definition?["to"]?[0]?.string ?? "")
                    .replacing("\"edges\"", with: "\"\(definition?["collection"]?.string ?? "")\"")
            },
            Route("POST", "/_db/_system/_api/gharial/*/vertex/*", try Self.r("gharial/vertex-add-202.http")) { request, recorded in
                recorded.replacing("male", with: Self.segment(request, 6)).editingJSON { object in
                    if var vertex = object["vertex"]?.object { vertex["_key"] = Self.bodyJSON(request)?["_key"]; object["vertex"] = .object(vertex) }
                }
            },
            Route("POST", "/_db/_system/_api/gharial/*/edge/*", try Self.r("gharial/edge-add-202.http")) { request, recorded in
                recorded.replacing("relation", with: Self.segment(request, 6))
            },
            try Self.cursor { _ in ["a>b"] },
            Route("DELETE", "/_db/_system/_api/gharial/*", query: ["dropCollections": "true"], try Self.r("gharial/drop-202.http")),
        ]
        let (outcome, replay) = try await Self.run("graph_operations", routes)
        Self.expectPassed("graph_operations", outcome, replay)
    }

    static func metadataRoutes(cursor: Route) throws -> [Route] {
        let indexID = Locked("")
        return try collection(create: r("collection/create-200.http")) + [
            Route("POST", "/_db/_system/_api/index", query: ["collection": "*"], try r("index/create-persistent-201.http")) { request, recorded in
                recorded.replacing("products", with: request.query["collection"] ?? "").editingJSON { object in
                    object["fields"] = bodyJSON(request)?["fields"]
                    object["unique"] = bodyJSON(request)?["unique"]
                    indexID.withLock { $0 = object["id"]?.string ?? "" }
                }
            },
            Route("GET", "/_db/_system/_api/index", query: ["collection": "*"], try r("index/list-200.http")) { request, recorded in
                // The recording lists [name] and [price] indexes; the probe's own is the one on [sku].
                recorded.replacing("products/73870", with: indexID.current).replacing("\"name\"]", with: "\"sku\"]")
            },
            Route("POST", "/_db/_system/_api/document/*", try r("document/post-multi-202.http")) { request, recorded in
                recorded.replacing("products", with: segment(request, 4))
            },
            cursor,
        ]
    }

    @Test("metadata_operations against the recorded persistent index 201, index list, multi-insert 202 and cursor")
    func test_arangoReplay_metadataOperations() async throws {
        let (outcome, replay) = try await Self.run("metadata_operations", try Self.metadataRoutes(cursor: Self.cursor { _ in ["k2"] }))
        Self.expectPassed("metadata_operations", outcome, replay)
    }

    @Test("telemetry_operations: the query loop follows a recorded batched cursor (hasMore, id, nextBatchId) to its last batch")
    func test_arangoReplay_telemetryOperations_followsBatches() async throws {
        let total = Locked(0)
        let routes = try Self.collection(create: Self.r("collection/create-200.http")) + [
            Route("POST", "/_db/_system/_api/document/*", try Self.r("document/post-multi-202.http")) { request, recorded in
                let documents = Self.bodyJSON(request)?.array ?? []
                total.withLock { $0 = documents.compactMap { $0["value"]?.int }.reduce(0, +) }
                // One result per document, as recorded for three.
                let one = recorded.json?[0] ?? [:]
                return RecordedResponse(status: recorded.status, headers: recorded.headers, body: JSONValue.array(documents.map { _ in one }).serialized)
            },
            Route("POST", "/_db/_system/_api/cursor", try Self.r("cursor/create-201-hasMore.http")) { _, recorded in
                recorded.editingJSON { $0["result"] = [] }
            },
            Route("POST", "/_db/_system/_api/cursor/*", try Self.r("cursor/next-batch-post-200.http")) { request, recorded in
                recorded.editingJSON { object in
                    object["result"] = [["total": .number(Double(total.current)), "n": 10]]
                    object["hasMore"] = false
                    object["id"] = nil
                    object["nextBatchId"] = nil
                }
            },
        ]
        let (outcome, replay) = try await Self.run("telemetry_operations", routes)
        Self.expectPassed("telemetry_operations", outcome, replay)
        #expect(replay.requests.contains { $0.hasPrefix("POST /_db/_system/_api/cursor/74151") }, "followed the recorded cursor id: \(replay.requests)")
    }

    @Test("the recorded 401 envelope makes every authenticated component report auth")
    func test_arangoReplay_unauthenticated_isAuth() async throws {
        let unauthorized = try Self.r("errors/401-unauthenticated.http")
        let routes = [Route("GET", "/_admin/server/availability", Self.available)] + ["GET", "POST", "DELETE", "PUT", "PATCH"].map { Route($0, "/**", unauthorized) }
        for component in ["service_running", "database_operations", "collection_operations", "document_operations", "graph_operations",
                          "metadata_operations", "telemetry_operations", "performance_metrics"] {
            let (outcome, _) = try await Self.run(component, routes)
            #expect(outcome.reason(component) == .auth, "\(component): \(outcome.summary)")
        }
    }

    @Test("a recorded cursor error (404 collection not found, 1203) fails the query component with its status and message")
    func test_arangoReplay_cursorError_fails() async throws {
        let routes = try Self.metadataRoutes(cursor: Route("POST", "/_db/_system/_api/cursor", try Self.r("cursor/unknown-collection-404.http")))
        let (outcome, _) = try await Self.run("metadata_operations", routes)
        #expect(outcome.reason("metadata_operations") == .httpStatus, "\(outcome.summary)")
        #expect(outcome.component("metadata_operations")?.failure?.message.contains("1203") == true, "\(outcome.summary)")
    }
}
