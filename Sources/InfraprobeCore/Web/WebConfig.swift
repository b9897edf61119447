import CShims
import FoundationEssentials
import Glibc

/// `--web.config.file` in the exporter-toolkit format: TLS through libmicrohttpd/GnuTLS and
/// bcrypt basic auth. Anything the toolkit knows but this build cannot honour is refused with
/// its key, rather than silently ignored.
public struct WebConfig: Sendable {
    public enum ClientAuth: String, Sendable, CaseIterable {
        case noClientCert = "NoClientCert"
        case requestClientCert = "RequestClientCert"
        case requireAnyClientCert = "RequireAnyClientCert"
        case verifyClientCertIfGiven = "VerifyClientCertIfGiven"
        case requireAndVerifyClientCert = "RequireAndVerifyClientCert"
    }

    public var tls: TLSMaterial?
    public var clientAuth: ClientAuth = .noClientCert
    /// user → bcrypt hash.
    public var basicAuthUsers: [String: String] = [:]
    /// `client_allowed_sans`: the client certificate must carry one of these SANs.
    public var clientAllowedSANs: [String]?
    /// `http_server_config.headers`, sent on every response.
    public var headers: [(name: String, value: String)] = []
    public var rateLimit: RateLimit?
    /// The web config file and the certificate, key and CA files it names: a change to any is a reload.
    public var files: [String] = []
    /// Accepted, but worth a log line at load.
    public var warnings: [ConfigError] = []

    public struct RateLimit: Sendable, Equatable {
        public var interval: Duration
        public var burst: Int
    }

    public init() {}

    /// The headers exporter-toolkit lets an operator set, with the only values it allows (nil: any).
    static let configurableHeaders: [String: [String]?] = [
        "Strict-Transport-Security": nil,
        "X-Content-Type-Options": ["nosniff"],
        "X-Frame-Options": ["deny", "sameorigin"],
        "X-XSS-Protection": nil,
        "Content-Security-Policy": nil,
    ]

    public static func load(file: String) throws -> WebConfig {
        let text: String
        do {
            text = try RegularFileReader.readText(file, limit: RegularFileReader.configLimit)
        } catch {
            throw ConfigError(file: file, line: nil, key: "", message: "cannot read the web config file: \(error)")
        }
        var config = try parse(yaml: text, file: file, baseDirectory: URL(fileURLWithPath: file).deletingLastPathComponent())
        config.files.insert(file, at: 0)
        return config
    }

    public static func parse(yaml: String, file: String, baseDirectory: URL) throws -> WebConfig {
        let root = try ConfigLoader.compose(yaml: yaml, file: file)
        let top = try ConfigSection(file: file, path: "", node: root, baseDirectory: baseDirectory)
        ["tls_server_config", "basic_auth_users", "http_server_config", "rate_limit"].forEach(top.markRead)
        try top.rejectUnknownKeys(message: "unknown key")
        var config = WebConfig()
        var tlsFacts = WebTLSConfig.Parsed()
        if let tls = try mappingSection(top, "tls_server_config") {
            tlsFacts = try WebTLSConfig.parse(tls)
            config.tls = tlsFacts.tls
            config.clientAuth = tlsFacts.clientAuth
            config.clientAllowedSANs = tlsFacts.clientAllowedSANs
            config.files = tlsFacts.files
        }
        if let users = top.valueNode("basic_auth_users"), !users.isNull {
            guard case .mapping(let mapping) = users else { throw top.error("basic_auth_users", "expected a mapping of user names to bcrypt hashes") }
            for (key, value) in mapping {
                guard let user = key.string, !user.isEmpty, case .scalar(let scalar) = value else {
                    throw ConfigError(file: file, line: key.mark.line, key: "basic_auth_users", message: "expected user: bcrypt-hash")
                }
                let hash = scalar.string
                // Checked by shape, never by hashing with it: each cost step doubles the time.
                guard isBcryptHash(hash) else {
                    throw ConfigError(file: file, line: value.mark.line, key: "basic_auth_users.\(user)",
                                      message: "not a bcrypt hash (expected $2y$/$2b$/$2a$…, e.g. from htpasswd -nBC 10)")
                }
                if let cost = BasicAuth.cost(of: hash), !BasicAuth.acceptedCosts.contains(cost) {
                    // Valid for exporter-toolkit (its own test users include cost 18), so not refused; but
                    // every login would take seconds of CPU, so this user's logins are refused unhashed.
                    config.warnings.append(ConfigError(file: file, line: value.mark.line, key: "basic_auth_users.\(user)",
                                                       message: "bcrypt cost \(cost) is outside \(BasicAuth.acceptedCosts.lowerBound)…\(BasicAuth.acceptedCosts.upperBound): this user's logins are refused"))
                }
                config.basicAuthUsers[user] = hash
            }
        }
        var http2 = true
        if let http = try mappingSection(top, "http_server_config") {
            // Accepted for compatibility: libmicrohttpd serves HTTP/1.1 only, whatever it says.
            http2 = try http.bool("http2") ?? true
            if let headers = http.valueNode("headers"), !headers.isNull {
                http.markRead("headers")
                config.headers = try parseHeaders(headers, http)
            }
            try http.rejectUnknownKeys(message: "unknown key")
        }
        if http2, let suites = tlsFacts.suites, !suites.isEmpty, tlsFacts.minVersion != "TLS13",
           !suites.contains(where: GoTLSNames.http2Required.contains) {
            throw ConfigError(file: file, line: nil, key: "tls_server_config.cipher_suites",
                              message: "TLSConfig.CipherSuites is missing an HTTP/2-required AES_128_GCM_SHA256 cipher (need at least one of \(GoTLSNames.http2Required.joined(separator: " or "))), as exporter-toolkit refuses it; add one or set http_server_config.http2: false")
        }
        if let limit = try mappingSection(top, "rate_limit") {
            config.rateLimit = try parseRateLimit(limit)
        }
        return config
    }

    /// `$2a$`/`$2b$`/`$2y$`, a cost of 04–31, then 53 characters of bcrypt's base64 — checked by
    /// shape, as Go's `bcrypt.Cost` does: hashing to check would cost seconds for a high cost.
    static func isBcryptHash(_ hash: String) -> Bool {
        let bytes = Array(hash.utf8)
        guard bytes.count == 60, ["$2a$", "$2b$", "$2y$"].contains(where: hash.hasPrefix), bytes[6] == UInt8(ascii: "$"),
              let cost = Int(String(decoding: bytes[4..<6], as: UTF8.self)), (4...31).contains(cost) else { return false }
        let alphabet = Set("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        return bytes[7...].allSatisfy(alphabet.contains)
    }

    /// A nested mapping; an empty (null) value counts as absent, as in Go.
    private static func mappingSection(_ top: ConfigSection, _ key: String) throws -> ConfigSection? {
        guard let node = top.valueNode(key), !node.isNull else { return nil }
        return try top.section(key)
    }

    private static func parseHeaders(_ node: YAMLNode, _ section: ConfigSection) throws -> [(name: String, value: String)] {
        guard case .mapping(let mapping) = node else { throw section.error("headers", "expected a mapping of header names to values") }
        var headers: [(name: String, value: String)] = []
        for (key, value) in mapping {
            guard let name = key.string, case .scalar(let scalar) = value else {
                throw ConfigError(file: section.file, line: key.mark.line, key: "http_server_config.headers", message: "expected Header: value")
            }
            func failure(_ message: String) -> ConfigError {
                ConfigError(file: section.file, line: key.mark.line, key: "http_server_config.headers.\(name)", message: message)
            }
            guard let allowed = configurableHeaders[name] else {
                throw failure("HTTP header \"\(name)\" can not be configured (only \(configurableHeaders.keys.sorted().joined(separator: ", ")))")
            }
            if let allowed, !allowed.contains(scalar.string) {
                throw failure("invalid value for \(name). Expected one of: \(allowed.map { "\"\($0)\"" }.joined(separator: ", ")), but got: \"\(scalar.string)\"")
            }
            guard !scalar.string.contains(where: { $0 == "\r" || $0 == "\n" }) else { throw failure("a header value cannot span lines") }
            headers.append((name, scalar.string))
        }
        return headers
    }

    private static func parseRateLimit(_ section: ConfigSection) throws -> RateLimit? {
        let burst = try section.int("burst", range: 0...1_000_000) ?? 0
        let interval: Duration
        // Go's time.Duration reads `0` as zero; the toolkit has no limiter then.
        if let text = section.valueNode("interval")?.string, text == "0" {
            section.markRead("interval")
            interval = .zero
        } else {
            interval = try section.duration("interval", range: .nanoseconds(1)...(.seconds(86400))) ?? .zero
        }
        try section.rejectUnknownKeys(message: "unknown key")
        return interval == .zero ? nil : RateLimit(interval: interval, burst: burst)
    }

    /// Decides whether a request may proceed; nil means yes, else the response to send.
    /// `/-/healthy` stays open so load balancers and systemd checks need no credentials.
    public func authorize(path: String, facts: ConnectionFacts, verifier: BasicAuth) async -> HTTPResponse? {
        if tls != nil {
            let certificate = facts.clientCertificate ?? (present: false, verified: false)
            switch clientAuth {
            case .noClientCert, .requestClientCert: break
            case .requireAnyClientCert:
                if !certificate.present { return .text(403, "a client certificate is required") }
            case .verifyClientCertIfGiven:
                if certificate.present && !certificate.verified { return .text(403, "the client certificate did not verify") }
            case .requireAndVerifyClientCert:
                if !certificate.present || !certificate.verified { return .text(403, "a valid client certificate is required") }
            }
        }
        if let allowed = clientAllowedSANs, tls != nil, !(facts.clientSANs ?? []).contains(where: allowed.contains) {
            return .text(403, "the client certificate has none of the allowed subject alternative names")
        }
        guard !basicAuthUsers.isEmpty, path != "/-/healthy" else { return nil }
        if let credentials = facts.basicAuth, await verifier.verify(user: credentials.user, password: credentials.password, users: basicAuthUsers) {
            return nil
        }
        return HTTPResponse(status: 401, body: "Unauthorized\n", headers: [("WWW-Authenticate", "Basic realm=\"infraprobe\", charset=\"UTF-8\"")])
    }
}

/// bcrypt verification through libcrypt. Unknown users are checked against a dummy hash so the
/// timing does not tell which part was wrong; successful checks are cached (bcrypt costs ~70 ms
/// at cost 10). Verifications run on a few threads of their own, off the cooperative pool and
/// apart from the probes' blocking threads, with a short queue: a flood of wrong passwords
/// costs at most `maxConcurrentVerifications` cores, and logins beyond the queue, or that wait
/// longer than `maxWait`, are refused (401) instead of piling up.
public final class BasicAuth: Sendable {
    public static let maxConcurrentVerifications = 2
    public static let maxQueuedVerifications = 32
    public static let maxWait: Duration = .seconds(2)

    private let cache = Locked<[String]>([])
    private let cacheLimit = 100
    private let executor: BlockingExecutor
    /// bcrypt costs a web config may use: 16 already takes seconds per uncached login.
    public static let acceptedCosts = 4...16

    /// A bcrypt setting (cost 10) for unknown users: crypt accepts a bare setting.
    static let dummyHash = "$2b$10$abcdefghijklmnopqrstuu"

    public init(executor: BlockingExecutor = BlockingExecutor(maxThreads: maxConcurrentVerifications,
                                                               maxQueued: maxQueuedVerifications)) {
        self.executor = executor
    }

    public func verify(user: String, password: String, users: [String: String]) async -> Bool {
        let stored = users[user]
        let key = "\(user)\u{0}\(stored ?? "")\u{0}\(password)"
        if stored != nil, cache.withLock({ $0.contains(key) }) { return true }
        if let stored, let cost = Self.cost(of: stored), !Self.acceptedCosts.contains(cost) { return false }
        let setting = stored ?? Self.dummyHash
        let computed: String?
        do {
            computed = try await executor.run(before: .after(Self.maxWait)) { BasicAuth.crypt(password, setting: setting) }
        } catch {
            return false  // too many verifications in flight
        }
        guard let stored, let computed, Self.constantTimeEqual(computed, stored) else { return false }
        cache.withLock { entries in
            entries.append(key)
            if entries.count > cacheLimit { entries.removeFirst(entries.count - cacheLimit) }
        }
        return true
    }

    /// The cost field of a `$2?$NN$…` hash.
    static func cost(of hash: String) -> Int? {
        guard hash.utf8.count > 7, hash.utf8.dropFirst(6).first == UInt8(ascii: "$") else { return nil }
        return Int(hash.dropFirst(4).prefix(2))
    }

    static func crypt(_ phrase: String, setting: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        let status = cshim_crypt(phrase, setting, &buffer, Int32(buffer.count))
        guard status == 0 else { return nil }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// Compares every byte regardless of where the first difference is.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(truncatingIfNeeded: x.count ^ y.count)
        for index in 0..<max(x.count, y.count) {
            let left = index < x.count ? x[index] : 0
            let right = index < y.count ? y[index] : 0
            difference |= left ^ right
        }
        return difference == 0
    }
}
