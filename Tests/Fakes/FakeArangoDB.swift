import Foundation
import InfraprobeCore

/// ArangoDB per `reference/service-apis.md` §3: `/_db/<db>/` routing (404/1228), error
/// envelopes `{code,error,errorMessage,errorNum}`, Basic auth with the 401/11 envelope and
/// `Www-Authenticate`, 201 (waitForSync) vs 202 writes, `_id/_key/_rev` metadata, gharial,
/// and a cursor API that evaluates the small AQL subset the probe uses against its state.
final class FakeArangoDB: FakeService, @unchecked Sendable {
    enum Break: Sendable, Equatable {
        case none
        case unavailable
        case databaseNotListed
        case collectionDropIgnored
        case patchIgnored
        case traversalEmpty
        case indexNotListed
        case aggregateWrong
        case metricsDisabled
        /// A hostile server: every cursor answers `hasMore: true` with an empty batch, forever.
        case endlessCursor
    }

    /// `POST /_api/cursor/<id>` follow-ups and `DELETE /_api/cursor/<id>` frees served.
    let cursorFollowUps = Locked(0)
    let cursorDeletes = Locked(0)

    struct Collection: Equatable {
        var type: Int
        var documents: [String: [String: JSONValue]] = [:]
        var indexes: [JSONValue] = []
    }

    struct Database: Equatable {
        var collections: [String: Collection] = [:]
        var graphs: [String: JSONValue] = [:]
    }

    struct State: Equatable {
        var databases: [String: Database] = ["_system": Database(collections: ["_graphs": Collection(type: 2)])]
    }

    let state = Locked(State())
    let breakage = Locked(Break.none)
    let waitForSync: Bool
    let username: String
    let password: String
    private let counter = Locked(70000)

    init(waitForSync: Bool = false, username: String = "root", password: String = "pw") {
        self.waitForSync = waitForSync
        self.username = username
        self.password = password
        super.init(roles: ["http"])
    }

    var url: String { url("http") }
    var writeStatus: Int { waitForSync ? 201 : 202 }

    private func nextID() -> Int { counter.withLock { $0 += 1; return $0 } }
    private func rev() -> String { "_l6z\(nextID())---" }

    static func error(_ code: Int, _ num: Int, _ message: String) -> HTTPResponse {
        .json(code, ["code": .number(Double(code)), "error": true, "errorMessage": .string(message), "errorNum": .number(Double(num))])
    }

    override func route(role: String, request: HTTPRequest) -> HTTPResponse {
        var path = request.path
        if path == "/_admin/server/availability" {
            if breakage.current == .unavailable { return Self.error(503, 503, "service unavailable") }
            return .json(200, ["mode": "default", "error": false, "code": 200])
        }
        guard let header = request.header("authorization"), header == "Basic " + Data("\(username):\(password)".utf8).base64EncodedString() else {
            var response = Self.error(401, 11, "not authorized to execute this request")
            if request.header("x-omit-www-authenticate") == nil {
                response.headers += [("Www-Authenticate", "Basic, realm=\"ArangoDB\""), ("Www-Authenticate", "Bearer, token_type=\"JWT\", realm=\"ArangoDB\"")]
            }
            return response
        }
        var db = "_system"
        if path.hasPrefix("/_db/") {
            let rest = path.dropFirst("/_db/".count)
            let name = rest.prefix { $0 != "/" }
            db = String(name)
            path = String(rest.dropFirst(name.count))
        }
        guard state.current.databases[db] != nil else { return Self.error(404, 1228, "database not found") }
        let parts = path.split(separator: "/").map(String.init)
        let method = request.method
        switch (method, parts.first, parts.count > 1 ? parts[1] : nil) {
        case ("GET", "_api", "version"):
            return .json(200, ["server": "arango", "license": "enterprise", "version": "3.12.10", "apiVersions": ["v0"]])
        case (_, "_api", "database"): return database(method, parts, db: db, request: request)
        case (_, "_api", "collection"): return collection(method, parts, db: db, request: request)
        case (_, "_api", "document"): return document(method, parts, db: db, request: request)
        case (_, "_api", "index"): return index(method, db: db, request: request)
        case (_, "_api", "gharial"): return gharial(method, parts, db: db, request: request)
        case ("POST", "_api", "cursor") where parts.count == 3, ("DELETE", "_api", "cursor") where parts.count == 3:
            return cursorFollowUp(method, id: parts[2])
        case ("POST", "_api", "cursor"): return cursor(db: db, request: request)
        case ("GET", "_admin", "metrics"):
            if breakage.current == .metricsDisabled { return Self.error(404, 404, "unknown path '/_admin/metrics'") }
            return HTTPResponse(status: 200, contentType: "text/plain", body: """
            # HELP arangodb_process_statistics_resident_set_size Resident set size
            # TYPE arangodb_process_statistics_resident_set_size gauge
            arangodb_process_statistics_resident_set_size{role="SINGLE"} 299249664
            arangodb_server_statistics_server_uptime_total{role="SINGLE"} 32.469900
            arangodb_http_request_statistics_total_requests_total{role="SINGLE"} 243
            arangodb_server_statistics_physical_memory{role="SINGLE"} 33089720320
            arangodb_server_statistics_cpu_cores{role="SINGLE"} 8
            arangodb_scheduler_queue_length{role="SINGLE"} 0

            """)
        default:
            return Self.error(404, 404, "unknown path '\(request.path)'")
        }
    }

    private func database(_ method: String, _ parts: [String], db: String, request: HTTPRequest) -> HTTPResponse {
        switch (method, parts.count > 2 ? parts[2] : nil) {
        case ("GET", "current"):
            return .json(200, ["error": false, "code": 200, "result": ["id": "1", "name": .string(db), "isSystem": .bool(db == "_system"), "path": "none"]])
        case ("GET", nil):
            guard db == "_system" else { return Self.error(403, 1230, "operation only allowed in system database") }
            var names = state.current.databases.keys.sorted()
            if breakage.current == .databaseNotListed { names = names.filter { $0 == "_system" } }
            return .json(200, ["error": false, "code": 200, "result": .array(names.map { .string($0) })])
        case ("POST", nil):
            guard db == "_system" else { return Self.error(403, 1230, "operation only allowed in system database") }
            guard let name = request.json?["name"]?.string, !name.isEmpty, name.count <= 64 else { return Self.error(400, 1229, "database name invalid") }
            let created = state.withLock { state -> Bool in
                guard state.databases[name] == nil else { return false }
                state.databases[name] = Database()
                return true
            }
            return created ? .json(201, ["error": false, "code": 201, "result": true]) : Self.error(409, 1207, "duplicate database name")
        case ("DELETE", let name?):
            let removed = state.withLock { $0.databases.removeValue(forKey: name) != nil }
            return removed ? .json(200, ["error": false, "code": 200, "result": true]) : Self.error(404, 1228, "database not found")
        default:
            return Self.error(405, 405, "method not supported")
        }
    }

    private func collection(_ method: String, _ parts: [String], db: String, request: HTTPRequest) -> HTTPResponse {
        let name = parts.count > 2 ? parts[2] : nil
        if method == "POST", name == nil {
            guard let body = request.json, let name = body["name"]?.string, name.first?.isLetter == true else {
                return Self.error(400, 1208, "illegal name")
            }
            let type = body["type"]?.int ?? 2
            let created = state.withLock { state -> Bool in
                guard state.databases[db]?.collections[name] == nil else { return false }
                state.databases[db]?.collections[name] = Collection(type: type, indexes: [["id": .string("\(name)/0"), "type": "primary", "fields": ["_key"]]])
                return true
            }
            guard created else { return Self.error(409, 1207, "duplicate name: \(name)") }
            return .json(200, properties(name, type: type, extra: ["statusString": "loaded", "waitForSync": .bool(waitForSync)]))
        }
        guard let name, let collection = state.current.databases[db]?.collections[name] else {
            return Self.error(404, 1203, "collection or view not found: \(name ?? "")")
        }
        switch (method, parts.count > 3 ? parts[3] : nil) {
        case ("GET", nil), ("GET", "properties"):
            return .json(200, properties(name, type: collection.type, extra: ["waitForSync": .bool(waitForSync)]))
        case ("GET", "count"):
            return .json(200, properties(name, type: collection.type, extra: ["count": .number(Double(collection.documents.count))]))
        case ("DELETE", nil):
            if breakage.current != .collectionDropIgnored {
                state.withLock { _ = $0.databases[db]?.collections.removeValue(forKey: name) }
            }
            return .json(200, ["error": false, "code": 200, "id": "70199"])
        default:
            return Self.error(405, 405, "method not supported")
        }
    }

    private func properties(_ name: String, type: Int, extra: [String: JSONValue]) -> JSONValue {
        var object: [String: JSONValue] = ["error": false, "code": 200, "id": "70137", "name": .string(name), "type": .number(Double(type)),
                                           "status": 3, "isSystem": .bool(name.hasPrefix("_")), "globallyUniqueId": .string("h5C3DDE5391BF/\(name)"),
                                           "keyOptions": ["allowUserKeys": true, "type": "traditional", "lastValue": 0]]
        object.merge(extra) { _, new in new }
        return .object(object)
    }

    private func storeDocument(db: String, collection: String, _ body: [String: JSONValue]) -> JSONValue {
        var document = body
        let key = body["_key"]?.string ?? String(nextID())
        let revision = rev()
        document["_key"] = .string(key)
        document["_id"] = .string("\(collection)/\(key)")
        document["_rev"] = .string(revision)
        let stored = state.withLock { state -> Bool in
            guard state.databases[db]?.collections[collection]?.documents[key] == nil else { return false }
            state.databases[db]?.collections[collection]?.documents[key] = document
            return true
        }
        guard stored else {
            return ["error": true, "errorNum": 1210, "errorMessage": .string("unique constraint violated - in index primary of type primary over '_key'; conflicting key: \(key)")]
        }
        return ["_id": .string("\(collection)/\(key)"), "_key": .string(key), "_rev": .string(revision)]
    }

    private func document(_ method: String, _ parts: [String], db: String, request: HTTPRequest) -> HTTPResponse {
        guard parts.count > 2, state.current.databases[db]?.collections[parts[2]] != nil else {
            return Self.error(404, 1203, "collection or view not found: \(parts.count > 2 ? parts[2] : "")")
        }
        let collection = parts[2]
        if method == "POST", parts.count == 3 {
            guard let body = request.json else { return Self.error(400, 600, "VPackError error: Expecting '\"' or '}'") }
            if let many = body.array {
                let results = many.map { storeDocument(db: db, collection: collection, $0.object ?? [:]) }
                return .json(writeStatus, .array(results))
            }
            let result = storeDocument(db: db, collection: collection, body.object ?? [:])
            if result["error"]?.bool == true { return Self.error(409, 1210, result["errorMessage"]?.string ?? "") }
            return .json(writeStatus, result, headers: [("ETag", "\"\(result["_rev"]?.string ?? "")\"")])
        }
        guard parts.count == 4 else { return Self.error(400, 400, "bad parameter") }
        let key = parts[3]
        guard let existing = state.current.databases[db]?.collections[collection]?.documents[key] else {
            return Self.error(404, 1202, "document not found")
        }
        switch method {
        case "GET":
            return .json(200, .object(existing), headers: [("ETag", "\"\(existing["_rev"]?.string ?? "")\"")])
        case "PATCH":
            guard let patch = request.json?.object else { return Self.error(400, 600, "VPackError") }
            var updated = existing
            let newRev = rev()
            if breakage.current != .patchIgnored {
                for (field, value) in patch where !field.hasPrefix("_") { updated[field] = value }
            }
            updated["_rev"] = .string(newRev)
            state.withLock { $0.databases[db]?.collections[collection]?.documents[key] = updated }
            return .json(writeStatus, ["_id": existing["_id"] ?? "", "_key": .string(key), "_rev": .string(newRev), "_oldRev": existing["_rev"] ?? ""])
        case "DELETE":
            state.withLock { _ = $0.databases[db]?.collections[collection]?.documents.removeValue(forKey: key) }
            return .json(waitForSync ? 200 : 202, ["_id": existing["_id"] ?? "", "_key": .string(key), "_rev": existing["_rev"] ?? ""])
        default:
            return Self.error(405, 405, "method not supported")
        }
    }

    private func index(_ method: String, db: String, request: HTTPRequest) -> HTTPResponse {
        guard let collection = request.query["collection"], state.current.databases[db]?.collections[collection] != nil else {
            return Self.error(404, 1203, "collection or view not found")
        }
        switch method {
        case "GET":
            var indexes = state.current.databases[db]?.collections[collection]?.indexes ?? []
            if breakage.current == .indexNotListed { indexes = Array(indexes.prefix(1)) }
            return .json(200, ["error": false, "code": 200, "indexes": .array(indexes)])
        case "POST":
            guard let body = request.json, body["type"]?.string == "persistent", let fields = body["fields"] else {
                return Self.error(400, 10, "bad parameter")
            }
            let index: JSONValue = ["id": .string("\(collection)/\(nextID())"), "type": "persistent", "fields": fields,
                                    "unique": body["unique"] ?? false, "sparse": false, "isNewlyCreated": true, "error": false, "code": 201]
            state.withLock { $0.databases[db]?.collections[collection]?.indexes.append(index) }
            return .json(201, index)
        default:
            return Self.error(405, 405, "method not supported")
        }
    }

    private func gharial(_ method: String, _ parts: [String], db: String, request: HTTPRequest) -> HTTPResponse {
        if method == "POST", parts.count == 2 {
            guard let body = request.json, let name = body["name"]?.string, let definitions = body["edgeDefinitions"]?.array else {
                return Self.error(400, 10, "bad parameter")
            }
            let created = state.withLock { state -> Bool in
                guard state.databases[db]?.graphs[name] == nil else { return false }
                state.databases[db]?.graphs[name] = body
                for definition in definitions {
                    if let edges = definition["collection"]?.string, state.databases[db]?.collections[edges] == nil {
                        state.databases[db]?.collections[edges] = Collection(type: 3)
                    }
                    for vertex in (definition["from"]?.array ?? []) + (definition["to"]?.array ?? []) {
                        if let vertex = vertex.string, state.databases[db]?.collections[vertex] == nil {
                            state.databases[db]?.collections[vertex] = Collection(type: 2)
                        }
                    }
                }
                return true
            }
            guard created else { return Self.error(409, 1925, "graph already exists") }
            return .json(writeStatus, ["error": false, "code": .number(Double(writeStatus)),
                                       "graph": ["_key": .string(name), "_id": .string("_graphs/\(name)"), "name": .string(name),
                                                 "edgeDefinitions": .array(definitions), "orphanCollections": [], "_rev": .string(rev())]])
        }
        guard parts.count > 2, let graph = state.current.databases[db]?.graphs[parts[2]] else {
            return Self.error(404, 1924, "graph '\(parts.count > 2 ? parts[2] : "")' not found")
        }
        let name = parts[2]
        if method == "DELETE", parts.count == 3 {
            state.withLock { state in
                state.databases[db]?.graphs.removeValue(forKey: name)
                if request.query["dropCollections"] == "true" {
                    for definition in graph["edgeDefinitions"]?.array ?? [] {
                        for collection in [definition["collection"] ?? .null] + (definition["from"]?.array ?? []) + (definition["to"]?.array ?? []) {
                            if let collection = collection.string { state.databases[db]?.collections.removeValue(forKey: collection) }
                        }
                    }
                }
            }
            return .json(writeStatus, ["error": false, "code": .number(Double(writeStatus)), "removed": true])
        }
        if method == "POST", parts.count == 5, ["vertex", "edge"].contains(parts[3]) {
            let collection = parts[4]
            guard state.current.databases[db]?.collections[collection] != nil, let body = request.json?.object else {
                return Self.error(404, 1203, "collection or view not found")
            }
            let result = storeDocument(db: db, collection: collection, body)
            return .json(writeStatus, ["error": false, "code": .number(Double(writeStatus)), parts[3] == "edge" ? "edge" : "vertex": result])
        }
        return Self.error(405, 405, "method not supported")
    }

    /// Only the endless cursor ever has an id to continue; every other id is unknown (1600).
    private func cursorFollowUp(_ method: String, id: String) -> HTTPResponse {
        guard breakage.current == .endlessCursor, id == "endless" else { return Self.error(404, 1600, "cursor not found") }
        if method == "DELETE" {
            cursorDeletes.withLock { $0 += 1 }
            return .json(202, ["id": .string(id), "error": false, "code": 202])
        }
        cursorFollowUps.withLock { $0 += 1 }
        return .json(200, ["result": [], "hasMore": true, "id": .string(id), "count": 1_000_000, "cached": false, "error": false, "code": 200])
    }

    /// The AQL the probe sends: a one-step graph traversal, an indexed equality lookup, and a COLLECT AGGREGATE.
    private func cursor(db: String, request: HTTPRequest) -> HTTPResponse {
        guard let body = request.json, let query = body["query"]?.string, !query.isEmpty else {
            return Self.error(400, 1502, "query is empty")
        }
        let bind = body["bindVars"]?.object ?? [:]
        let database = state.current.databases[db] ?? Database()
        var result: [JSONValue]
        if query.contains("OUTBOUND"), query.contains("GRAPH"), let start = bind["start"]?.string, let name = bind["g"]?.string {
            guard let graph = database.graphs[name] else { return Self.error(404, 1924, "graph '\(name)' not found") }
            let edgeCollections = (graph["edgeDefinitions"]?.array ?? []).compactMap { $0["collection"]?.string }
            let startKey = start.split(separator: "/").last.map(String.init) ?? start
            result = edgeCollections.flatMap { database.collections[$0]?.documents.values.map { $0 } ?? [] }
                .filter { $0["_from"]?.string == start }
                .compactMap { $0["_to"]?.string?.split(separator: "/").last.map { .string("\(startKey)>\($0)") } }
            if breakage.current == .traversalEmpty { result = [] }
        } else if query.contains("FILTER d.sku == @sku"), let name = bind["@c"]?.string, let sku = bind["sku"] {
            guard let collection = database.collections[name] else { return Self.error(404, 1203, "collection or view not found: \(name)") }
            result = collection.documents.values.filter { $0["sku"] == sku }.compactMap { $0["_key"] }
        } else if query.contains("COLLECT AGGREGATE"), let name = bind["@c"]?.string {
            guard let collection = database.collections[name] else { return Self.error(404, 1203, "collection or view not found: \(name)") }
            var total = collection.documents.values.compactMap { $0["value"]?.double }.reduce(0, +)
            if breakage.current == .aggregateWrong { total -= 1 }
            result = [["total": .number(total), "n": .number(Double(collection.documents.count))]]
        } else {
            return Self.error(400, 1501, "AQL: syntax error, unexpected identifier near '\(query.prefix(20))'")
        }
        if breakage.current == .endlessCursor {
            return .json(201, ["result": [], "hasMore": true, "id": "endless", "count": 1_000_000, "cached": false, "error": false, "code": 201])
        }
        return .json(201, ["result": .array(result), "hasMore": false, "count": .number(Double(result.count)), "cached": false,
                           "extra": ["warnings": [], "stats": ["writesExecuted": 0, "scannedIndex": 1, "executionTime": 0.0001]],
                           "error": false, "code": 201])
    }
}
