import FoundationEssentials
import Glibc

/// Functional test of ArangoDB over its HTTP API: every write component works on objects of
/// its own named `infraprobe_<instance>_<nonce>_<component>` (ArangoDB names allow no `/`),
/// checks what the server answers, and drops them before returning, also when a step fails (a
/// drop the deadline cuts off goes to the cleanup ledger; see also ArangoDBProber+LeftoverSweeping).
/// Write statuses accept both 201 (waitForSync) and 202 (default).
///
/// A read-only server (`PUT /_admin/server/mode`, an expired license, a Community deployment over
/// its size limit) is available (200 `mode: readonly`) but refuses writes with 403: that is
/// `not_ready`, not a credentials problem. `token` is a JWT (Bearer) or a 3.12 access token, which
/// ArangoDB takes only as a password (Basic with an empty user name).
public struct ArangoDBProber: Prober {
    public static let descriptor = ProberDescriptor(
        kind: "arangodb",
        componentNames: ["service_running", "database_operations", "collection_operations", "document_operations",
                         "graph_operations", "metadata_operations", "telemetry_operations", "performance_metrics"],
        addressKey: "url",
        // Creating a database builds its system collections (in a cluster, on every DB server),
        // and a graph three collections: every few minutes, not every scrape. Each other write
        // check creates and drops one collection (shards in a cluster): once a minute.
        defaultEvery: ["database_operations": .seconds(300), "graph_operations": .seconds(300),
                       "collection_operations": .seconds(60), "document_operations": .seconds(60),
                       "metadata_operations": .seconds(60), "telemetry_operations": .seconds(60)],
        make: { section, environment in try ArangoDBProber(section: section, environment: environment) })

    public let endpoint: HTTPEndpoint
    /// Database the collection/document/graph components work in (the user needs rw there).
    public let database: String
    let written: Set<Int> = [201, 202]

    public init(section: ConfigSection, environment: ProberEnvironment) throws {
        endpoint = HTTPEndpoint(client: environment.http, baseURL: try HTTPEndpoint.url(section, "url"),
                                auth: Self.arangoAuth(try HTTPEndpoint.auth(section)), tls: try HTTPEndpoint.tls(section),
                                headers: [("X-Omit-Www-Authenticate", "1")])
        database = try section.string("database") ?? "_system"
    }

    /// Bearer takes only a JWT (three base64url parts); anything else is a 3.12 access token, a password.
    static func arangoAuth(_ auth: HTTPAuth) -> HTTPAuth {
        guard case .bearer(let token) = auth else { return auth }
        let parts = token.value.split(separator: ".", omittingEmptySubsequences: false)
        let isJWT = parts.count == 3 && token.value.hasPrefix("eyJ")
            && parts.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy(Self.isBase64URL) }
        return isJWT ? auth : .basic(username: "", password: token)
    }

    static func isBase64URL(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "="):
            return true
        default:
            return false
        }
    }

    public func checks() -> [ComponentCheck] {
        [
            ComponentCheck("service_running") { try await serviceRunning($0) },
            ComponentCheck("database_operations") { context in try await readOnlyAware(context) { try await databaseOperations(context) } },
            ComponentCheck("collection_operations") { context in try await readOnlyAware(context) { try await collectionOperations(context) } },
            ComponentCheck("document_operations") { context in try await readOnlyAware(context) { try await documentOperations(context) } },
            ComponentCheck("graph_operations") { context in try await readOnlyAware(context) { try await graphOperations(context) } },
            ComponentCheck("metadata_operations") { context in try await readOnlyAware(context) { try await metadataOperations(context) } },
            ComponentCheck("telemetry_operations") { context in try await readOnlyAware(context) { try await telemetryOperations(context) } },
            ComponentCheck("performance_metrics") { try await performanceMetrics($0) },
        ]
    }

    /// A 403 from a read-only server (errorNum 1004 TRI_ERROR_ARANGO_READ_ONLY, or TRI_ERROR_FORBIDDEN
    /// for database creation) is the server's mode, not the credentials: `not_ready`. The mode is
    /// asked again (the availability API is public) so the wording of the error does not matter.
    func readOnlyAware(_ context: ComponentContext, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as ProbeFailure where failure.reason == .auth && failure.message.contains("answered 403") {
            let availability = try? await endpoint.call("GET", "/_admin/server/availability", expect: [200, 503], context: context)
            guard let mode = availability.flatMap({ JSONValue.parse($0.body)?["mode"]?.string }), mode == "readonly" else { throw failure }
            throw ProbeFailure(.notReady, "server is read-only: \(failure.message)")
        }
    }

    func name(_ context: ComponentContext, _ suffix: String = "") -> String {
        let instance = context.instanceID.map { $0.isLetter || $0.isNumber ? $0 : "_" }
        return "infraprobe_\(String(instance))_\(context.nonce)_\(context.component)\(suffix)"
    }

    func api(_ path: String) -> String { "/_db/\(urlEncode(database))\(path)" }

    static func failure(_ what: String, _ json: JSONValue) -> ProbeFailure {
        ProbeFailure(.unexpectedResponse, "\(what): \(String(decoding: json.serialized.prefix(160), as: UTF8.self))")
    }

    // MARK: components

    func serviceRunning(_ context: ComponentContext) async throws {
        let availability = try await endpoint.call("GET", "/_admin/server/availability", expect: [200, 503], context: context)
        guard availability.status == 200 else {
            throw ProbeFailure(.notReady, "server not available (starting, in maintenance, shutting down, scheduler queue over its fill grade, or storage engine unhealthy)")
        }
        if let mode = JSONValue.parse(availability.body)?["mode"]?.string, mode != "default" {
            throw ProbeFailure(.notReady, "server is in \(mode) mode: it refuses writes")
        }
        let (_, version) = try await endpoint.json("GET", api("/_api/version"), context: context)
        guard version["server"]?.string == "arango", let number = version["version"]?.string else {
            throw Self.failure("/_api/version does not describe an ArangoDB server", version)
        }
        context.reportVersion(number)
    }

    func databaseOperations(_ context: ComponentContext) async throws {
        // Database names are limited to 64 characters.
        let instance = context.instanceID.map { $0.isLetter || $0.isNumber ? $0 : "_" }
        let db = "infraprobe_\(String(instance.prefix(24)))_\(context.nonce)_db"
        let endpoint = self.endpoint
        try await withCleanup(context, {
            let (_, created) = try await endpoint.json("POST", "/_db/_system/_api/database", body: ["name": .string(db)], expect: [201], context: context)
            guard created["result"]?.bool == true else { throw Self.failure("database create", created) }
            let (_, list) = try await endpoint.json("GET", "/_db/_system/_api/database", context: context)
            guard list["result"]?.array?.contains(.string(db)) == true else { throw Self.failure("new database \(db) not listed", list) }
            let (_, current) = try await endpoint.json("GET", "/_db/\(db)/_api/database/current", context: context)
            guard current["result"]?["name"]?.string == db, current["result"]?["isSystem"]?.bool == false else {
                throw Self.failure("database/current in the new database", current)
            }
            try await endpoint.json("DELETE", "/_db/_system/_api/database/\(urlEncode(db))", context: context)
            let (_, after) = try await endpoint.json("GET", "/_db/_system/_api/database", context: context)
            guard after["result"]?.array?.contains(.string(db)) == false else { throw Self.failure("database \(db) still listed after drop", after) }
        }, cleanup: endpoint.removal("DELETE", "/_db/_system/_api/database/\(urlEncode(db))", context: context))
    }

    /// Runs `body` with a fresh collection that is dropped afterwards, also on failure.
    func withCollection(_ context: ComponentContext, type: Int = 2, _ body: (String) async throws -> Void) async throws {
        let collection = name(context)
        let endpoint = self.endpoint
        let dropPath = api("/_api/collection/\(urlEncode(collection))")
        try await withCleanup(context, {
            let (_, created) = try await endpoint.json("POST", api("/_api/collection"), body: ["name": .string(collection), "type": .number(Double(type))],
                                                       expect: [200, 201], context: context)
            guard created["name"]?.string == collection else { throw Self.failure("collection create", created) }
            try await body(collection)
            try await endpoint.json("DELETE", dropPath, context: context)
        }, cleanup: endpoint.removal("DELETE", dropPath, context: context))
    }

    func collectionOperations(_ context: ComponentContext) async throws {
        try await withCollection(context) { collection in
            let (_, properties) = try await endpoint.json("GET", api("/_api/collection/\(collection)/properties"), context: context)
            guard properties["name"]?.string == collection, properties["type"]?.int == 2, properties["isSystem"]?.bool == false else {
                throw Self.failure("collection properties", properties)
            }
            let (_, count) = try await endpoint.json("GET", api("/_api/collection/\(collection)/count"), context: context)
            guard count["count"]?.int == 0 else { throw Self.failure("a new collection should count 0 documents", count) }
        }
        let collection = name(context)
        try await endpoint.call("GET", api("/_api/collection/\(collection)"), expect: [404], context: context)
    }

    func documentOperations(_ context: ComponentContext) async throws {
        try await withCollection(context) { collection in
            let key = "probe-\(context.nonce)"
            let path = api("/_api/document/\(urlEncode(collection))/\(urlEncode(key))")
            let (_, inserted) = try await endpoint.json("POST", api("/_api/document/\(collection)"),
                                                        body: ["_key": .string(key), "v": 1, "nonce": .string(context.nonce)],
                                                        expect: written, context: context)
            guard inserted["_key"]?.string == key, let firstRev = inserted["_rev"]?.string else { throw Self.failure("document insert", inserted) }
            let (_, read) = try await endpoint.json("GET", path, context: context)
            guard read["v"]?.int == 1, read["nonce"]?.string == context.nonce, read["_rev"]?.string == firstRev else {
                throw Self.failure("document read back differs from what was written", read)
            }
            let (_, patched) = try await endpoint.json("PATCH", path, body: ["v": 2], expect: written, context: context)
            guard let newRev = patched["_rev"]?.string, newRev != firstRev else { throw Self.failure("PATCH did not produce a new _rev", patched) }
            let (_, reread) = try await endpoint.json("GET", path, context: context)
            guard reread["v"]?.int == 2, reread["nonce"]?.string == context.nonce else {
                throw Self.failure("document after PATCH {v:2} reads", reread)
            }
            try await endpoint.json("DELETE", path, expect: [200, 202], context: context)
            try await endpoint.call("GET", path, expect: [404], context: context)
        }
    }

    func graphOperations(_ context: ComponentContext) async throws {
        let graph = name(context)
        let vertices = name(context, "_v")
        let edges = name(context, "_e")
        let endpoint = self.endpoint
        let dropPath = api("/_api/gharial/\(urlEncode(graph))?dropCollections=true")
        try await withCleanup(context, {
            let (_, created) = try await endpoint.json("POST", api("/_api/gharial"), body: [
                "name": .string(graph), "orphanCollections": [],
                "edgeDefinitions": [["collection": .string(edges), "from": [.string(vertices)], "to": [.string(vertices)]]],
            ], expect: written, context: context)
            guard created["graph"]?["name"]?.string == graph else { throw Self.failure("graph create", created) }
            for key in ["a", "b"] {
                let (_, vertex) = try await endpoint.json("POST", api("/_api/gharial/\(graph)/vertex/\(vertices)"),
                                                          body: ["_key": .string(key)], expect: written, context: context)
                guard vertex["vertex"]?["_key"]?.string == key else { throw Self.failure("vertex insert", vertex) }
            }
            let (_, edge) = try await endpoint.json("POST", api("/_api/gharial/\(graph)/edge/\(edges)"),
                                                    body: ["_from": .string("\(vertices)/a"), "_to": .string("\(vertices)/b")],
                                                    expect: written, context: context)
            guard edge["edge"]?["_id"]?.string != nil else { throw Self.failure("edge insert", edge) }
            let result = try await query("FOR v, e, p IN 1..1 OUTBOUND @start GRAPH @g RETURN CONCAT_SEPARATOR('>', p.vertices[*]._key)",
                                         ["start": .string("\(vertices)/a"), "g": .string(graph)], context: context)
            guard result == ["a>b"] else {
                throw ProbeFailure(.unexpectedResponse, "traversal from a returned \(String(decoding: JSONValue.array(result).serialized, as: UTF8.self)), expected [\"a>b\"]")
            }
            try await endpoint.json("DELETE", dropPath, expect: [200, 201, 202], context: context)
        }, cleanup: endpoint.removal("DELETE", dropPath, context: context))
    }

    /// Persistent index on a field, then an AQL lookup by that field that must use it.
    func metadataOperations(_ context: ComponentContext) async throws {
        try await withCollection(context) { collection in
            let (_, index) = try await endpoint.json("POST", api("/_api/index?collection=\(collection)"),
                                                     body: ["type": "persistent", "fields": ["sku"], "unique": true],
                                                     expect: [200, 201], context: context)
            guard let indexID = index["id"]?.string, index["type"]?.string == "persistent" else { throw Self.failure("index create", index) }
            let (_, indexes) = try await endpoint.json("GET", api("/_api/index?collection=\(collection)"), context: context)
            guard indexes["indexes"]?.array?.contains(where: { $0["id"]?.string == indexID && $0["fields"] == ["sku"] }) == true else {
                throw Self.failure("the new index \(indexID) is not listed", indexes)
            }
            let documents: JSONValue = .array((1...3).map { ["_key": .string("k\($0)"), "sku": .string("sku-\($0)-\(context.nonce)")] })
            try await insertBatch(collection, documents, context: context)
            let found = try await query("FOR d IN @@c FILTER d.sku == @sku RETURN d._key",
                                        ["@c": .string(collection), "sku": .string("sku-2-\(context.nonce)")], context: context)
            guard found == ["k2"] else {
                throw ProbeFailure(.unexpectedResponse, "indexed lookup returned \(String(decoding: JSONValue.array(found).serialized, as: UTF8.self)), expected [\"k2\"]")
            }
        }
    }

    /// Batch insert, then an AQL COLLECT AGGREGATE whose result must equal what was written.
    func telemetryOperations(_ context: ComponentContext) async throws {
        try await withCollection(context) { collection in
            let values = (1...10).map { _ in Int.random(in: 1...1000) }
            try await insertBatch(collection, .array(values.map { ["value": .number(Double($0))] }), context: context)
            let result = try await query("FOR d IN @@c COLLECT AGGREGATE total = SUM(d.value), n = COUNT(d) RETURN {total, n}",
                                         ["@c": .string(collection)], context: context)
            let expected = values.reduce(0, +)
            guard result.count == 1, result[0]["total"]?.int == expected, result[0]["n"]?.int == values.count else {
                throw ProbeFailure(.unexpectedResponse, "aggregate returned \(String(decoding: JSONValue.array(result).serialized, as: UTF8.self)), expected total \(expected) over \(values.count)")
            }
        }
    }

    func insertBatch(_ collection: String, _ documents: JSONValue, context: ComponentContext) async throws {
        let (_, answer) = try await endpoint.json("POST", api("/_api/document/\(collection)"), body: documents, expect: written, context: context)
        guard let items = answer.array, items.count == documents.array?.count, !items.contains(where: { $0["error"]?.bool == true }) else {
            throw Self.failure("batch insert", answer)
        }
    }

    /// Follow-up batches one query may take (batchSize 100): our queries return a few rows, so
    /// a cursor still saying `hasMore` after this many is not a real one.
    static let maxCursorFollowUps = 20

    /// One AQL query; every batch is read (and the cursor freed) before returning.
    func query(_ text: String, _ bindVars: [String: JSONValue], context: ComponentContext) async throws -> [JSONValue] {
        var (_, answer) = try await endpoint.json("POST", api("/_api/cursor"), body: ["query": .string(text), "bindVars": .object(bindVars), "batchSize": 100],
                                                  expect: [201], context: context)
        var rows = answer["result"]?.array ?? []
        guard answer["result"]?.array != nil else { throw Self.failure("cursor answer has no result", answer) }
        var followUps = 0
        while answer["hasMore"]?.bool == true, let id = answer["id"]?.string {
            guard followUps < Self.maxCursorFollowUps else {
                // Best effort: a cursor the server keeps also expires by its own TTL.
                _ = await endpoint.removal("DELETE", api("/_api/cursor/\(urlEncode(id))"), context: context).remove(context.deadline)
                throw ProbeFailure(.unexpectedResponse, "cursor \(String(id.prefix(40))) still has more after \(followUps) follow-up batches")
            }
            followUps += 1
            (_, answer) = try await endpoint.json("POST", api("/_api/cursor/\(urlEncode(id))"), expect: [200], context: context)
            rows += answer["result"]?.array ?? []
        }
        return rows
    }

    func performanceMetrics(_ context: ComponentContext) async throws {
        let response = try await endpoint.call("GET", api("/_admin/metrics/v2"), expect: [200, 404], context: context)
        let text: String
        if response.status == 404 {
            text = try await endpoint.call("GET", api("/_admin/metrics"), context: context).text
        } else {
            text = response.text
        }
        let samples = PrometheusText.parse(text)
        guard samples.contains(where: { $0.name.hasPrefix("arangodb_") }) else {
            throw ProbeFailure(.unexpectedResponse, "/_admin/metrics is not Prometheus text with arangodb_* series")
        }
        let facts: [(String, String, String)] = [
            ("arangodb_process_statistics_resident_set_size", "infraprobe_arangodb_resident_memory_bytes", "Resident memory of the ArangoDB process."),
            ("arangodb_server_statistics_physical_memory", "infraprobe_arangodb_physical_memory_bytes", "Physical memory of the ArangoDB host."),
            ("arangodb_server_statistics_server_uptime_total", "infraprobe_arangodb_uptime_seconds", "Seconds since the ArangoDB server started."),
            ("arangodb_http_request_statistics_total_requests_total", "infraprobe_arangodb_http_requests", "HTTP requests ArangoDB has served (its counter)."),
            ("arangodb_scheduler_queue_length", "infraprobe_arangodb_scheduler_queue_length", "Requests waiting in ArangoDB's scheduler queue."),
            ("arangodb_server_statistics_cpu_cores", "infraprobe_arangodb_cpu_cores", "CPU cores ArangoDB sees."),
        ]
        var found = 0
        for (source, name, help) in facts {
            let matching = samples.filter { $0.name == source }
            guard !matching.isEmpty else { continue }
            found += 1
            context.fact(name, help: help, value: matching.reduce(0) { $0 + $1.value })
        }
        guard found > 0 else { throw ProbeFailure(.unexpectedResponse, "none of the expected arangodb_* metrics is present") }
    }
}
