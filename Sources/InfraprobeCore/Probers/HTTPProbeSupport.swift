import FoundationEssentials
import Glibc

/// One HTTP endpoint of a service as a prober talks to it: base URL, credentials, TLS, and
/// the shared client. Every request is bounded by the component's deadline, recorded as a
/// step (method, URL, status, bytes, time, truncated body; never credentials), and its
/// status is checked, so the probers only state what they expect.
public struct HTTPEndpoint: Sendable {
    public let client: HTTPClient
    public let baseURL: String
    public let auth: HTTPAuth
    public let tls: HTTPTLSOptions
    public let headers: [(String, String)]

    public init(client: HTTPClient, baseURL: String, auth: HTTPAuth = .none, tls: HTTPTLSOptions = HTTPTLSOptions(),
                headers: [(String, String)] = []) {
        self.client = client
        client.prepare()
        // Kept verbatim: a URL probed as-is (a health path such as `/health/`) must keep its
        // trailing slash, or a Go mux answers 301; `resolve` joins sub-paths without doubling it.
        self.baseURL = baseURL
        self.auth = auth
        self.tls = tls
        self.headers = headers
    }

    /// Reads `key` as a base URL; `host:port` gets `http://`. A trailing `/` is kept.
    public static func url(_ section: ConfigSection, _ key: String, default defaultValue: String? = nil) throws -> String {
        let text: String
        if let value = try section.string(key), !value.isEmpty {
            text = value
        } else if let defaultValue {
            text = defaultValue
        } else {
            throw section.missing(key)
        }
        guard !URLUserinfo.present(in: text) else { throw section.error(key, URLUserinfo.refusal) }
        let url = text.contains("://") ? text : "http://\(text)"
        guard let parsed = URL(string: url), let scheme = parsed.scheme, ["http", "https"].contains(scheme), parsed.host != nil else {
            throw section.error(key, "expected an http(s) URL or host:port, got \"\(URLUserinfo.redacted(text))\"")
        }
        return url
    }

    /// `tls: {ca_file, cert_file, key_file, insecure_skip_verify}`.
    public static func tls(_ section: ConfigSection) throws -> HTTPTLSOptions {
        guard let tls = try section.section("tls") else { return HTTPTLSOptions() }
        let options = HTTPTLSOptions(
            caFile: try tls.string("ca_file").map(tls.resolvePath),
            certFile: try tls.string("cert_file").map(tls.resolvePath),
            keyFile: try tls.string("key_file").map(tls.resolvePath),
            insecureSkipVerify: try tls.bool("insecure_skip_verify") ?? false)
        if (options.certFile == nil) != (options.keyFile == nil) {
            throw tls.error(options.certFile == nil ? "cert_file" : "key_file", "cert_file and key_file go together")
        }
        // curl reads these on every probe: a FIFO there would hang each one, so refuse it now.
        for key in ["ca_file", "cert_file", "key_file"] { try tls.checkReadableFile(key, limit: RegularFileReader.certificateLimit) }
        try tls.rejectUnknownKeys()
        return options
    }

    /// `token`/`token_file` (sent as `tokenHeader`, or as a bearer token) or `username` + `password`/`password_file`.
    public static func auth(_ section: ConfigSection, tokenHeader: String? = nil) throws -> HTTPAuth {
        let token = try section.secret("token")
        let username = try section.string("username")
        let password = try section.secret("password")
        if token != nil && (username != nil || password != nil) {
            throw section.error("token", "set either token or username/password, not both")
        }
        if let token {
            return tokenHeader.map { .header(name: $0, value: token) } ?? .bearer(token)
        }
        if let username {
            guard let password else { throw section.error("username", "a username needs a password or password_file") }
            return .basic(username: username, password: password)
        }
        if password != nil { throw section.error("password", "a password needs a username") }
        return .none
    }

    /// Always under the base URL: no path (from config or from a service's answer) can turn a
    /// request into one for another host. A base URL kept with its trailing `/` is joined
    /// without doubling it.
    func resolve(_ path: String) -> String {
        if baseURL.hasSuffix("/") && path.hasPrefix("/") { return baseURL.dropLast() + path }
        return baseURL + path
    }

    /// Sends one request and checks the status. Unexpected statuses: 401/403 → `auth`,
    /// 429 → `resource_exhausted`, anything else → `http_status`.
    @discardableResult
    public func call(_ method: String, _ path: String, body: [UInt8]? = nil, contentType: String? = nil,
                     headers extra: [(String, String)] = [], expect: Set<Int> = [200], maxBodyBytes: Int = 4 * 1024 * 1024,
                     responseHeaders: [String] = [], deadline: Deadline? = nil, bodyConsumer: (any HTTPBodyConsumer)? = nil,
                     context: ComponentContext) async throws -> HTTPClientResponse {
        let url = resolve(path)
        var requestHeaders = headers + extra
        if let contentType { requestHeaders.append(("Content-Type", contentType)) }
        var request = HTTPClientRequest(method: method, url: url, headers: requestHeaders, body: body, auth: auth, tls: tls,
                                        deadline: deadline ?? context.deadline, maxBodyBytes: maxBodyBytes)
        request.responseHeaders = responseHeaders
        request.bodyConsumer = bodyConsumer
        let started = ContinuousClock.now
        let result = await client.send(request)
        let elapsed = ContinuousClock.now - started
        switch result {
        case .failure(let error):
            context.step(.http(HTTPExchangeStep(method: method, url: url, sentBytes: body?.count, elapsed: elapsed,
                                                outcome: .failed(error.reason, message: error.message))))
            throw ProbeFailure(error.reason, "\(method) \(Self.pathOnly(url)): \(error.message)")
        case .response(let response):
            context.step(.http(HTTPExchangeStep(method: method, url: url, sentBytes: body?.count, elapsed: elapsed,
                                                status: response.status, body: response.body)))
            guard expect.contains(response.status) else {
                let reason: FailureReason
                switch response.status {
                case 401, 403: reason = .auth
                case 429: reason = .resourceExhausted
                default: reason = .httpStatus
                }
                throw ProbeFailure(reason, "\(method) \(Self.pathOnly(url)) answered \(response.status), expected \(expect.sorted().map(String.init).joined(separator: "/"))"
                                   + (response.body.isEmpty ? "" : ": \(Self.snippet(response.body, limit: 120))"))
            }
            return response
        }
    }

    /// A request whose answer must be JSON.
    @discardableResult
    public func json(_ method: String, _ path: String, body: JSONValue? = nil, rawBody: [UInt8]? = nil,
                     contentType: String? = nil, headers extra: [(String, String)] = [],
                     expect: Set<Int> = [200], context: ComponentContext) async throws -> (status: Int, json: JSONValue) {
        let response = try await call(method, path, body: body?.serialized ?? rawBody,
                                      contentType: contentType ?? (body == nil ? nil : "application/json"),
                                      headers: extra, expect: expect, context: context)
        do {
            return (response.status, try JSONValue.decode(response.body))
        } catch {
            throw ProbeFailure(.unexpectedResponse, "\(method) \(Self.pathOnly(resolve(path))) answered \(response.status) with a body that is not JSON (\(error)): \(Self.snippet(response.body, limit: 80))")
        }
    }

    /// The removal of one object: a request whose expected statuses (404 included) mean gone,
    /// bounded by the deadline each attempt is given.
    public func removal(_ method: String, _ path: String, expect: Set<Int> = [200, 201, 202, 404], context: ComponentContext) -> ObjectRemoval {
        let endpoint = self
        return ObjectRemoval(what: "\(method) \(Self.pathOnly(resolve(path)))") { deadline in
            (try? await endpoint.call(method, path, expect: expect, deadline: deadline, context: context)) != nil
        }
    }

    /// A GET of a Prometheus text endpoint.
    public func metrics(_ path: String, context: ComponentContext) async throws -> [PrometheusSample] {
        let response = try await call("GET", path, expect: [200], context: context)
        let samples = PrometheusText.parse(response.text)
        guard !samples.isEmpty else {
            throw ProbeFailure(.unexpectedResponse, "GET \(Self.pathOnly(resolve(path))) is not Prometheus text exposition")
        }
        return samples
    }

    /// `12.3 ms`, without String(format:), which is slow on the probe path.
    static func ms(_ duration: Duration) -> String {
        let tenths = max(0, duration.microseconds / 100)
        return "\(tenths / 10).\(tenths % 10) ms"
    }

    /// The start of a body for a step or reason: newlines as spaces, other control characters escaped.
    static func snippet<Bytes: Collection<UInt8>>(_ body: Bytes, limit: Int = 200) -> String {
        let text = String(decoding: body.prefix(limit).map { $0 == UInt8(ascii: "\n") ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
            .escapingControlCharacters
        return body.count > limit ? text + "…" : text
    }

    static func redactedURL(_ url: String) -> String {
        guard let scheme = url.firstRange(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@"),
              !url[scheme.upperBound..<at].contains("/") else { return url }
        return url[..<scheme.upperBound] + "<secret>@" + url[url.index(after: at)...]
    }

    static func pathOnly(_ url: String) -> String {
        guard let scheme = url.firstRange(of: "://"), let slash = url[scheme.upperBound...].firstIndex(of: "/") else { return url }
        return String(url[slash...])
    }
}

/// Percent-encodes one path segment or query value.
func urlEncode(_ text: String) -> String {
    PercentEncoding.encode(text)
}

/// Random lowercase hex of `bytes` bytes (trace and span ids).
func randomHex(bytes: Int) -> String {
    HexString.lowercase((0..<bytes).map { _ in UInt8.random(in: 0...255) })
}
