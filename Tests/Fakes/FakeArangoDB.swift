import Foundation
import InfraprobeCore

/// ArangoDB per `reference/service-apis.md` §3 and the 3.11/3.12 transcripts in `shared/conformance/arangodb`:
/// `/_db/<db>/` routing (404/1228), error envelopes `{code,error,errorMessage,errorNum}`, Basic auth with the
/// 401/11 envelope and `Www-Authenticate`, 201 (waitForSync) vs 202 writes, `_id/_key/_rev` metadata, gharial,
/// and a cursor API (batches, continuation, DELETE 202) that evaluates a small AQL subset against its state.
///
/// `version` 3.11 vs 3.12: `/_api/version` fields, collection properties (`supportsRBAC`), cursor
/// `nextBatchId` and stats keys, metrics `name{}` lines (3.11), and 3.12 access tokens (a password, also
/// with an empty user name). Bearer takes only a JWT. `readOnly`: availability 200 `mode: readonly`, writes 403.
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
    /// The ArangoDB version pretended to be: "3.11.14" or "3.12.10" (the recorded servers).
    let version: String
    /// 3.12 access token of `username` (used as a password).
    let accessToken = "v1.7b2e0c6f4a1d9e8b3c5a7f6e2d4b1a0c"
    /// A superuser JWT signed with the server secret (what Bearer accepts).
    let superuserJWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhcmFuZ29kYiIsInNlcnZlcl9pZCI6ImZha2UifQ.c2lnbmF0dXJlLW9mLWZha2U"
    /// `PUT /_admin/server/mode {"mode":"readonly"}`, an expired license, or over the Community size limit.
    let readOnly = Locked(false)
    private let counter = Locked(70000)
    private let cursors = Locked<[String: PendingCursor]>([:])

    struct PendingCursor {
        var rows: [JSONValue]
        let batchSize: Int
        let count: Int?
        var batch: Int
    }

    init(version: String = "3.12.10", waitForSync: Bool = false, username: String = "root", password: String = "pw") {
        self.version = version
        self.waitForSync = waitForSync
        self.username = username
        self.password = password
        super.init(roles: ["http"])
    }

    var is312: Bool { !version.hasPrefix("3.11") }

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
            // RestAdminServerHandler::handleAvailability: 503 only when starting, in maintenance or
            // shutting down; a read-only server is available (writeModeResult).
            if breakage.current == .unavailable { return Self.error(503, 503, "service unavailable") }
            return .json(200, ["error": false, "code": 200, "mode": readOnly.current ? "readonly" : "default"])
        }
        guard authorized(request.header("authorization")) else {
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
        if readOnly.current && method != "GET" && method != "HEAD" && !(parts.first == "_api" && parts.count > 1 && parts[1] == "cursor") {
            // ExecContext::canCreateDatabase → TRI_ERROR_FORBIDDEN; checkNotReadOnly → TRI_ERROR_ARANGO_READ_ONLY.
            if parts.count > 1 && parts[1] == "database" { return Self.error(403, 11, "forbidden") }
            return Self.error(403, 1004, "read only")
        }
        switch (method, parts.first, parts.count > 1 ? parts[1] : nil) {
        case ("GET", "_api", "version"):
            if !is312 { return .json(200, ["server": "arango", "license": "enterprise", "version": .string(version)]) }
            return .json(200, ["server": "arango", "license": "enterprise", "version": .string(version), "apiVersions": ["v0"],
                               "deprecatedApiVersions": [], "requestedApiVersion": "v0"])
        case (_, "_api", "database"): return database(method, parts, db: db, request: request)
        case (_, "_api", "collection"): return collection(method, parts, db: db, request: request)
        case (_, "_api", "document"): return document(method, parts, db: db, request: request)
        case (_, "_api", "index"): return index(method, db: db, request: request)
        case (_, "_api", "gharial"): return gharial(method, parts, db: db, request: request)
        case ("POST", "_api", "cursor") where parts.count == 2: return cursor(db: db, request: request)
        case ("POST", "_api", "cursor"), ("PUT", "_api", "cursor"):
            if breakage.current == .endlessCursor { return endlessFollowUp(method, id: parts[2]) }
            return nextBatch(parts[2])
        case ("DELETE", "_api", "cursor") where parts.count == 3:
            if breakage.current == .endlessCursor { return endlessFollowUp(method, id: parts[2]) }
            guard cursors.withLock({ $0.removeValue(forKey: parts[2]) }) != nil else { return Self.error(404, 1600, "cursor not found") }
            return .json(202, ["id": .string(parts[2]), "error": false, "code": 202])
        case ("GET", "_admin", "metrics"):
            if breakage.current == .metricsDisabled { return Self.error(404, 404, "unknown path '/_admin/metrics'") }
            // 3.11 writes unlabelled series as `name{} value`.
            let labels = is312 ? "{role=\"SINGLE\"}" : "{}"
            return HTTPResponse(status: 200, contentType: "text/plain", body: """
            # HELP arangodb_process_statistics_resident_set_size Resident set size
            # TYPE arangodb_process_statistics_resident_set_size gauge
            arangodb_process_statistics_resident_set_size\(labels) 299249664
            arangodb_server_statistics_server_uptime_total\(labels) 32.469900
            arangodb_http_request_statistics_total_requests_total\(labels) 243
            arangodb_server_statistics_physical_memory\(labels) 33089720320
            arangodb_server_statistics_cpu_cores\(labels) 8
            arangodb_scheduler_queue_length\(labels) 0

            """)
        default:
            return Self.error(404, 404, "unknown path '\(request.path)'")
        }
    }

    /// Basic `user:password`; 3.12 also Basic with the access token as password (user name optional);
    /// Bearer only with a JWT the server signed.
    func authorized(_ header: String?) -> Bool {
        guard let header else { return false }
        if header == "Bearer \(superuserJWT)" { return true }
        guard header.hasPrefix("Basic "), let decoded = Data(base64Encoded: String(header.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) }),
              let colon = decoded.firstIndex(of: ":") else { return false }
        let (user, secret) = (String(decoded[..<colon]), String(decoded[decoded.index(after: colon)...]))
        if user == username && secret == password { return true }
        return is312 && (user.isEmpty || user == username) && secret == accessToken
    }

    private func database(_ method: String, _ parts: [String], db: String, request: HTTPRequest) -> HTTPResponse {
        switch (method, parts.count > 2 ? parts[2] : nil) {
        case ("GET", "user"):
            return .json(200, ["error": false, "code": 200, "result": .array(state.current.databases.keys.sorted().map { .string($0) })])
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
                state.databases[db]?.collections[name] = Collection(type: type, indexes: [Self.primaryIndex(name)])
                return true
            }
            guard created else { return Self.error(409, 1207, "duplicate name: \(name)") }
            return .json(200, properties(name, type: type, extra: ["statusString": "loaded", "waitForSync": .bool(waitForSync)]))
        }
        if method == "GET", name == nil {
            let collections = state.current.databases[db]?.collections ?? [:]
            return .json(200, ["error": false, "code": 200, "result": .array(collections.keys.sorted().map { name in
                ["id": "70137", "name": .string(name), "status": 3, "type": .number(Double(collections[name]!.type)), "isSystem": .bool(name.hasPrefix("_")),
                 "globallyUniqueId": .string("h5C3DDE5391BF/\(name)")]
            })])
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
        var object: [String: JSONValue] = ["error": false, "code": 200, "writeConcern": 1, "waitForSync": .bool(waitForSync),
                                           "usesRevisionsAsDocumentIds": true, "syncByRevision": true, "statusString": "loaded",
                                           "id": "70137", "isSmartChild": false, "schema": nil, "name": .string(name), "type": .number(Double(type)),
                                           "status": 3, "cacheEnabled": false, "isSystem": .bool(name.hasPrefix("_")), "internalValidatorType": 0,
                                           "globallyUniqueId": .string("h5C3DDE5391BF/\(name)"),
                                           "keyOptions": ["allowUserKeys": true, "type": "traditional", "lastValue": 0],
                                           "computedValues": nil, "objectId": "70138"]
        if is312 { object["supportsRBAC"] = true }
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
            let identifiers = Dictionary(indexes.compactMap { index in index["id"]?.string.map { ($0, index) } }, uniquingKeysWith: { a, _ in a })
            return .json(200, ["error": false, "code": 200, "indexes": .array(indexes), "identifiers": .object(identifiers)])
        case "POST":
            guard let body = request.json, body["type"]?.string == "persistent", let fields = body["fields"] else {
                return Self.error(400, 10, "bad parameter")
            }
            let id = nextID()
            let index: JSONValue = ["cacheEnabled": false, "deduplicate": true, "estimates": true, "fields": fields, "id": .string("\(collection)/\(id)"),
                                    "name": .string("idx_18726071083\(id)"), "selectivityEstimate": 1, "sparse": body["sparse"] ?? false,
                                    "type": "persistent", "unique": body["unique"] ?? false]
            state.withLock { $0.databases[db]?.collections[collection]?.indexes.append(index) }
            var created = index.object ?? [:]
            created["isNewlyCreated"] = true
            created["error"] = false
            created["code"] = 201
            return .json(201, .object(created))
        default:
            return Self.error(405, 405, "method not supported")
        }
    }

    /// As gharial answers (gharial/create-202.http): `_key, edgeDefinitions, orphanCollections, _rev, _id, name`.
    func graphObject(_ name: String, _ body: JSONValue) -> JSONValue {
        ["_key": .string(name), "edgeDefinitions": body["edgeDefinitions"] ?? [], "orphanCollections": body["orphanCollections"] ?? [],
         "_rev": "_l6zhVoa--_", "_id": .string("_graphs/\(name)"), "name": .string(name)]
    }

    /// ArangoDB's StringUtils::boolean: true, yes, on, y, 1 in any case.
    static func queryBool(_ value: String?) -> Bool {
        ["true", "yes", "on", "y", "1"].contains(value?.lowercased() ?? "")
    }

    static func primaryIndex(_ collection: String) -> JSONValue {
        ["fields": ["_key"], "id": .string("\(collection)/0"), "name": "primary", "selectivityEstimate": 1, "sparse": false, "type": "primary", "unique": true]
    }

    private func gharial(_ method: String, _ parts: [String], db: String, request: HTTPRequest) -> HTTPResponse {
        if method == "GET", parts.count == 2 {
            let graphs = state.current.databases[db]?.graphs ?? [:]
            return .json(200, ["error": false, "code": 200, "graphs": .array(graphs.keys.sorted().map { graphObject($0, graphs[$0]!) })])
        }
        if method == "POST", parts.count == 2 {
            guard let body = request.json, let name = body["name"]?.string, let definitions = body["edgeDefinitions"]?.array else {
                return Self.error(400, 10, "bad parameter")
            }
            // createGraph.yaml: an edge collection another graph uses with other from/to is a 409 too (not 400).
            let others = (state.current.databases[db]?.graphs.values.map { $0 } ?? []).flatMap { $0["edgeDefinitions"]?.array ?? [] }
            for definition in definitions {
                if others.contains(where: { $0["collection"] == definition["collection"] && ($0["from"] != definition["from"] || $0["to"] != definition["to"]) }) {
                    return Self.error(409, 1921, "edge collection already used in edge def")
                }
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
            return .json(writeStatus, ["error": false, "code": .number(Double(writeStatus)), "graph": graphObject(name, body)])
        }
        guard parts.count > 2, let graph = state.current.databases[db]?.graphs[parts[2]] else {
            return Self.error(404, 1924, "graph '\(parts.count > 2 ? parts[2] : "")' not found")
        }
        let name = parts[2]
        if method == "GET", parts.count == 3 { return .json(200, ["error": false, "code": 200, "graph": graphObject(name, graph)]) }
        if method == "GET", parts.count == 6, ["vertex", "edge"].contains(parts[3]) {
            guard let document = state.current.databases[db]?.collections[parts[4]]?.documents[parts[5]] else {
                return Self.error(404, 1202, "document not found")
            }
            return .json(200, ["error": false, "code": 200, parts[3] == "edge" ? "edge" : "vertex": .object(document)],
                         headers: [("ETag", document["_rev"]?.string ?? "")])
        }
        if method == "DELETE", parts.count == 3 {
            state.withLock { state in
                state.databases[db]?.graphs.removeValue(forKey: name)
                if Self.queryBool(request.query["dropCollections"]) {
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

    /// The endless cursor (a hostile server): every follow-up says `hasMore` again; other ids are unknown (1600).
    private func endlessFollowUp(_ method: String, id: String) -> HTTPResponse {
        guard id == "endless" else { return Self.error(404, 1600, "cursor not found") }
        if method == "DELETE" {
            cursorDeletes.withLock { $0 += 1 }
            return .json(202, ["id": .string(id), "error": false, "code": 202])
        }
        cursorFollowUps.withLock { $0 += 1 }
        return .json(200, ["result": [], "hasMore": true, "id": .string(id), "count": 1_000_000, "cached": false, "error": false, "code": 200])
    }

    /// The AQL the probe sends (a one-step graph traversal, an indexed equality lookup, a COLLECT
    /// AGGREGATE) and `FOR x IN <collection> [LIMIT n] RETURN x`, in batches of `batchSize`.
    private func cursor(db: String, request: HTTPRequest) -> HTTPResponse {
        guard let body = request.json, let query = body["query"]?.string, !query.isEmpty else {
            return Self.error(400, 1502, "query is empty")
        }
        let bind = body["bindVars"]?.object ?? [:]
        let database = state.current.databases[db] ?? Database()
        var result: [JSONValue]
        let words = query.split(separator: " ").map(String.init)
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
        } else if words.count >= 6, words[0] == "FOR", words[2] == "IN", words[words.count - 2] == "RETURN", words.last == words[1] {
            let source = words[3].hasPrefix("@@") ? bind[String(words[3].dropFirst())]?.string ?? "" : words[3]
            guard let collection = database.collections[source] else {
                return Self.error(404, 1203, "AQL: collection or view not found: \(source) (while parsing)")
            }
            result = collection.documents.keys.sorted().compactMap { collection.documents[$0].map { JSONValue.object($0) } }
            if let limit = words.firstIndex(of: "LIMIT").flatMap({ Int(words[$0 + 1]) }) { result = Array(result.prefix(limit)) }
        } else {
            return Self.error(400, 1501, "AQL: syntax error, unexpected identifier near '\(query.prefix(20))'")
        }
        if breakage.current == .endlessCursor {
            return .json(201, ["result": [], "hasMore": true, "id": "endless", "count": 1_000_000, "cached": false, "error": false, "code": 201])
        }
        let batchSize = max(1, body["batchSize"]?.int ?? 1000)
        let count = body["count"]?.bool == true ? result.count : nil
        var pending = PendingCursor(rows: result, batchSize: batchSize, count: count, batch: 1)
        let id = String(nextID())
        let answer = page(&pending, id: id, status: 201)
        if !pending.rows.isEmpty { cursors.withLock { $0[id] = pending } }
        return answer
    }

    /// `POST /_api/cursor/<id>` (3.11+) and the deprecated `PUT`: the next batch, the cursor freed after the last.
    private func nextBatch(_ id: String) -> HTTPResponse {
        guard var pending = cursors.current[id] else { return Self.error(404, 1600, "cursor not found") }
        let answer = page(&pending, id: id, status: 200)
        cursors.withLock { $0[id] = pending.rows.isEmpty ? nil : pending }
        return answer
    }

    private func page(_ cursor: inout PendingCursor, id: String, status: Int) -> HTTPResponse {
        let batch = Array(cursor.rows.prefix(cursor.batchSize))
        cursor.rows.removeFirst(batch.count)
        cursor.batch += 1
        let hasMore = !cursor.rows.isEmpty
        var stats: [String: JSONValue] = ["writesExecuted": 0, "writesIgnored": 0, "scannedFull": 0, "scannedIndex": 1, "filtered": 0,
                                          "httpRequests": 0, "executionTime": 0.000177, "peakMemoryUsage": 0]
        if is312 {
            for key in ["documentLookups", "seeks", "cursorsCreated", "cursorsRearmed", "cacheHits", "cacheMisses", "intermediateCommits"] { stats[key] = 0 }
            stats["searchParallelism"] = 1
        }
        var answer: [String: JSONValue] = ["result": .array(batch), "hasMore": .bool(hasMore), "cached": false,
                                           "extra": ["warnings": [], "stats": .object(stats)], "error": false, "code": .number(Double(status))]
        if let count = cursor.count { answer["count"] = .number(Double(count)) }
        if hasMore {
            answer["id"] = .string(id)
            if is312 { answer["nextBatchId"] = .string(String(cursor.batch)) }
        }
        return .json(status, .object(answer))
    }
}
