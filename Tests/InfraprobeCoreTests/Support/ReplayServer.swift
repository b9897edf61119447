import Foundation
@testable import InfraprobeCore

/// Where the recorded real-service material lives: `../shared/conformance` next to the repository.
/// Read at test time, never copied into the repository; a missing file fails the test.
enum Conformance {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/conformance")

    struct MissingMaterial: Error, CustomStringConvertible {
        let path: String
        var description: String { "conformance material missing: \(path) (expected under \(Conformance.root.path))" }
    }

    /// The file's bytes; throws (so the test fails) when the material is absent.
    static func data(_ relativePath: String) throws -> Data {
        let url = root.appendingPathComponent(relativePath)
        guard let data = FileManager.default.contents(atPath: url.path) else { throw MissingMaterial(path: relativePath) }
        return data
    }

    /// A `*.json.txt` / `*.txt` file without its leading `#` header lines.
    static func textWithoutHeader(_ relativePath: String) throws -> String {
        let text = String(decoding: try data(relativePath), as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)[...]
        while let first = lines.first, first.hasPrefix("#") { lines = lines.dropFirst() }
        return lines.joined(separator: "\n")
    }

    /// A `*.json.txt` file's JSON value.
    static func json(_ relativePath: String) throws -> JSONValue {
        let text = try textWithoutHeader(relativePath)
        guard let value = JSONValue.parse(Array(text.utf8)) else { throw MissingMaterial(path: relativePath + " (not JSON)") }
        return value
    }
}

/// A request line of a transcript (`# > curl …` or `# request: GET /path`).
struct RecordedRequest: Sendable, Equatable, CustomStringConvertible {
    let method: String
    let path: String
    let query: [String: String]

    var description: String { "\(method) \(path)" + (query.isEmpty ? "" : "?" + query.keys.sorted().joined(separator: "&")) }
}

/// One recorded HTTP response, ready to serve: JSON bodies compacted (the ArangoDB docs generator
/// pretty-prints them; removing whitespace between tokens restores the real bytes, digits untouched),
/// framing headers (`content-length`, `connection`, `transfer-encoding`) dropped so the server recomputes them.
struct RecordedResponse: Sendable {
    let status: Int
    let headers: [(String, String)]
    let body: [UInt8]

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    var json: JSONValue? { JSONValue.parse(body) }
    var text: String { String(decoding: body, as: UTF8.self) }

    /// The same response with `old` replaced by `new` in the body: a real server echoes the names
    /// a request used, so a recording made for `products` answers for the prober's own collection.
    func replacing(_ old: String, with new: String) -> RecordedResponse {
        RecordedResponse(status: status, headers: headers, body: Array(text.replacingOccurrences(of: old, with: new).utf8))
    }

    /// The same response with its JSON object body edited (values, not shapes: keep fields and types).
    func editingJSON(_ edit: (inout [String: JSONValue]) -> Void) -> RecordedResponse {
        guard var object = json?.object else { return self }
        edit(&object)
        return RecordedResponse(status: status, headers: headers, body: JSONValue.object(object).serialized)
    }

    var httpResponse: HTTPResponse {
        var response = HTTPResponse(status: status, body: "")
        response.headers = headers
        response.body = body
        return response
    }
}

/// A parsed `*.http` transcript of `shared/conformance` (conventions in its README): `# ` provenance lines,
/// `# > ` request lines, then the raw responses in request order.
struct Transcript: Sendable {
    let file: String
    let provenance: [String]
    /// Every request shown; may include setup requests whose responses were not logged.
    let requests: [RecordedRequest]
    let responses: [RecordedResponse]

    static func load(_ relativePath: String) throws -> Transcript {
        try Transcript(file: relativePath, text: String(decoding: Conformance.data(relativePath), as: UTF8.self))
    }

    struct Malformed: Error, CustomStringConvertible {
        let file: String, why: String
        var description: String { "\(file): \(why)" }
    }

    init(file: String, text: String) throws {
        self.file = file
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var index = 0
        var provenance: [String] = []
        var requests: [RecordedRequest] = []
        while index < lines.count, lines[index].hasPrefix("#") {
            let line = lines[index]
            if line.hasPrefix("# > curl ") {
                requests += Self.curlRequest(line).map { [$0] } ?? []
            } else if line.hasPrefix("# request: ") {
                requests += Self.plainRequest(String(line.dropFirst("# request: ".count))).map { [$0] } ?? []
            } else if !line.hasPrefix("# > ") {
                provenance.append(line)
            }
            index += 1
        }
        let starts = lines.indices.filter { $0 >= index && lines[$0].hasPrefix("HTTP/") }
        guard starts.first == index else { throw Malformed(file: file, why: "no HTTP status line after the # header") }
        var responses: [RecordedResponse] = []
        for (n, start) in starts.enumerated() {
            let end = n + 1 < starts.count ? starts[n + 1] : lines.count
            var block = Array(lines[start..<end])
            // Responses in one file are separated by two blank lines; the last body is verbatim to EOF.
            if n + 1 < starts.count {
                for _ in 0..<2 where block.last == "" { block.removeLast() }
            }
            responses.append(try Self.response(block, file: file))
        }
        self.provenance = provenance
        self.requests = requests
        self.responses = responses
    }

    /// The `n`th response (0-based), failing clearly when the transcript has fewer.
    func response(_ n: Int = 0) throws -> RecordedResponse {
        guard responses.indices.contains(n) else { throw Malformed(file: file, why: "has \(responses.count) responses, no #\(n + 1)") }
        return responses[n]
    }

    /// Request/response pairs, when every shown request has a logged response.
    func exchanges() throws -> [(RecordedRequest, RecordedResponse)] {
        guard requests.count == responses.count else {
            throw Malformed(file: file, why: "\(requests.count) requests but \(responses.count) responses; bind routes explicitly")
        }
        return Array(zip(requests, responses))
    }

    private static func response(_ block: [String], file: String) throws -> RecordedResponse {
        let statusParts = block[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]), (100...599).contains(status) else {
            throw Malformed(file: file, why: "bad status line \(block[0])")
        }
        var headers: [(String, String)] = []
        var line = 1
        while line < block.count, !block[line].isEmpty {
            if let colon = block[line].firstIndex(of: ":") {
                let name = String(block[line][..<colon])
                let value = block[line][block[line].index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if !["content-length", "connection", "transfer-encoding", "keep-alive"].contains(name.lowercased()) {
                    headers.append((name, value))
                }
            }
            line += 1
        }
        let bodyText = line < block.count ? block[(line + 1)...].joined(separator: "\n") : ""
        var body = Array(bodyText.utf8)
        let contentType = headers.first { $0.0.lowercased() == "content-type" }?.1 ?? ""
        if contentType.contains("json") {
            let compact = compactJSON(body)
            if (try? JSONSerialization.jsonObject(with: Data(compact), options: [.fragmentsAllowed])) != nil { body = compact }
        }
        return RecordedResponse(status: status, headers: headers, body: body)
    }

    /// Drops whitespace outside strings: key order and number spelling stay exactly as recorded.
    static func compactJSON(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var inString = false, escaped = false
        for byte in bytes {
            if inString {
                out.append(byte)
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
                out.append(byte)
            } else if ![UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t")].contains(byte) {
                out.append(byte)
            }
        }
        return out
    }

    /// `curl [-X METHOD] … 'http://host:port/path?query'` (HEAD when `-I`/`--head`).
    static func curlRequest(_ line: String) -> RecordedRequest? {
        let words = line.split(separator: " ").map(String.init)
        var method = "GET"
        if let x = words.firstIndex(of: "-X"), x + 1 < words.count { method = words[x + 1] }
        if words.contains("-I") || words.contains("--head") { method = "HEAD" }
        guard let quoted = words.first(where: { $0.hasPrefix("'http") }) else { return nil }
        let url = quoted.trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        guard let components = URLComponents(string: url) else { return nil }
        return RecordedRequest(method: method, path: components.path, query: queryDictionary(components))
    }

    /// `GET /path?query   (notes)`.
    static func plainRequest(_ text: String) -> RecordedRequest? {
        let words = text.split(separator: " ").map(String.init)
        guard words.count >= 2, let components = URLComponents(string: words[1]) else { return nil }
        return RecordedRequest(method: words[0], path: components.path, query: queryDictionary(components))
    }

    private static func queryDictionary(_ components: URLComponents) -> [String: String] {
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] where query[item.name] == nil { query[item.name] = item.value ?? "" }
        return query
    }
}

/// Serves recorded responses on a free loopback port: a real HTTP server answering with real
/// services' bytes, so a prober (or client) can be run against what the service actually sent.
///
/// Routes match on method, path pattern (`*` = one segment, a final `**` = the rest) and, when a
/// route lists query parameters, those parameters' values (`*` = any value, present). A route with
/// several responses answers them in turn and then repeats the last. Unmatched requests answer
/// `599` with a one-line reason and are listed in `unmatched`, so a test can assert nothing strayed.
final class ReplayServer: @unchecked Sendable {
    struct Route: Sendable {
        let method: String
        let path: String
        let query: [String: String]
        let responses: [RecordedResponse]
        /// Adapts the recorded answer to the request (e.g. the names it used); nil serves it as recorded.
        let adapt: (@Sendable (HTTPRequest, RecordedResponse) -> RecordedResponse)?

        init(_ method: String, _ path: String, query: [String: String] = [:], _ responses: RecordedResponse...,
             adapt: (@Sendable (HTTPRequest, RecordedResponse) -> RecordedResponse)? = nil) {
            self.init(method, path, query: query, responses: responses, adapt: adapt)
        }

        init(_ method: String, _ path: String, query: [String: String] = [:], responses: [RecordedResponse],
             adapt: (@Sendable (HTTPRequest, RecordedResponse) -> RecordedResponse)? = nil) {
            precondition(!responses.isEmpty, "a route needs a response")
            self.method = method
            self.path = path
            self.query = query
            self.responses = responses
            self.adapt = adapt
        }

        /// Every exchange of a transcript whose requests all have logged responses, at the recorded path.
        static func recorded(_ transcript: Transcript) throws -> [Route] {
            try transcript.exchanges().map { request, response in
                Route(request.method, request.path, query: request.query.mapValues { _ in "*" }, response)
            }
        }

        func matches(_ request: HTTPRequest) -> Bool {
            guard request.method == method, Self.match(pattern: path, path: request.path) else { return false }
            return query.allSatisfy { key, value in
                guard let actual = request.query[key] else { return false }
                return value == "*" || actual == value
            }
        }

        static func match(pattern: String, path: String) -> Bool {
            let want = pattern.split(separator: "/", omittingEmptySubsequences: false)
            let have = path.split(separator: "/", omittingEmptySubsequences: false)
            for (i, segment) in want.enumerated() {
                if segment == "**" && i == want.count - 1 { return have.count >= i }
                guard i < have.count, segment == "*" || segment == have[i] else { return false }
            }
            return want.count == have.count
        }
    }

    private let routes: [Route]
    private let served = Locked<[Int: Int]>([:])
    private let log = Locked<[String]>([])
    private let strays = Locked<[String]>([])
    private var server: LoopbackTestServer?

    init(_ routes: [Route]) {
        self.routes = routes
    }

    /// Starts on a free loopback port.
    func start() throws {
        server = try LoopbackTestServer { [unowned self] request in self.answer(request) }
    }

    /// Starts a server for these routes (call `stop()` when done).
    static func started(_ routes: [Route]) throws -> ReplayServer {
        let replay = ReplayServer(routes)
        try replay.start()
        return replay
    }

    func stop() { server?.stop() }

    func stopOffPool() async { await server?.stopOffPool() }

    var url: String { "http://127.0.0.1:\(server?.port ?? 0)" }
    var hostPort: String { "127.0.0.1:\(server?.port ?? 0)" }

    /// Every request seen, as `METHOD /path?sorted-query-keys`.
    var requests: [String] { log.current }
    /// Requests no route matched.
    var unmatched: [String] { strays.current }

    private func answer(_ request: HTTPRequest) -> HTTPResponse {
        let line = "\(request.method) \(request.path)" + (request.query.isEmpty ? "" : "?" + request.query.keys.sorted().joined(separator: "&"))
        log.withLock { $0.append(line) }
        guard let index = routes.firstIndex(where: { $0.matches(request) }) else {
            strays.withLock { $0.append(line) }
            return .text(599, "replay: no recorded response for \(line)")
        }
        let route = routes[index]
        let turn = served.withLock { counts -> Int in
            let turn = counts[index, default: 0]
            counts[index] = turn + 1
            return turn
        }
        let recorded = route.responses[min(turn, route.responses.count - 1)]
        return (route.adapt?(request, recorded) ?? recorded).httpResponse
    }
}
