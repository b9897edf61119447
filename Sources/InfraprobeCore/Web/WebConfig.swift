import CShims
import Foundation
import Yams

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

    public init() {}

    static let tlsVersions = ["TLS10": "VERS-TLS1.0", "TLS11": "VERS-TLS1.1", "TLS12": "VERS-TLS1.2", "TLS13": "VERS-TLS1.3"]
    static let versionOrder = ["TLS10", "TLS11", "TLS12", "TLS13"]

    public static func load(file: String) throws -> WebConfig {
        let text: String
        do {
            text = try RegularFileReader.readText(file, limit: RegularFileReader.configLimit)
        } catch {
            throw ConfigError(file: file, line: nil, key: "", message: "cannot read the web config file: \(error)")
        }
        return try parse(yaml: text, file: file, baseDirectory: URL(fileURLWithPath: file).deletingLastPathComponent())
    }

    public static func parse(yaml: String, file: String, baseDirectory: URL) throws -> WebConfig {
        let root = try ConfigLoader.compose(yaml: yaml, file: file)
        let top = try ConfigSection(file: file, path: "", node: root, baseDirectory: baseDirectory)
        var config = WebConfig()
        if let tls = try top.section("tls_server_config") {
            config = try parseTLS(tls, into: config)
        }
        if let users = top.valueNode("basic_auth_users") {
            top.markRead("basic_auth_users")
            guard case .mapping(let mapping) = users else { throw top.error("basic_auth_users", "expected a mapping of user names to bcrypt hashes") }
            for (key, value) in mapping {
                guard let user = key.string, !user.isEmpty, case .scalar(let scalar) = value else {
                    throw ConfigError(file: file, line: key.mark?.line, key: "basic_auth_users", message: "expected user: bcrypt-hash")
                }
                let hash = scalar.string
                // The cost is checked before anything hashes with it: each step doubles the time of
                // every login (and of this check), so `$2y$31$` would hang the load for days.
                if hash.utf8.count > 7, ["$2a$", "$2b$", "$2y$"].contains(where: hash.hasPrefix), hash.utf8.dropFirst(6).first == UInt8(ascii: "$"),
                   let cost = Int(hash.dropFirst(4).prefix(2)), !BasicAuth.acceptedCosts.contains(cost) {
                    throw ConfigError(file: file, line: value.mark?.line, key: "basic_auth_users.\(user)",
                                      message: "bcrypt cost \(cost) is outside \(BasicAuth.acceptedCosts.lowerBound)…\(BasicAuth.acceptedCosts.upperBound)")
                }
                guard ["$2a$", "$2b$", "$2y$"].contains(where: hash.hasPrefix), BasicAuth.crypt("probe", setting: hash) != nil else {
                    throw ConfigError(file: file, line: value.mark?.line, key: "basic_auth_users.\(user)",
                                      message: "not a bcrypt hash (expected $2y$/$2b$/$2a$…, e.g. from htpasswd -nBC 10)")
                }
                config.basicAuthUsers[user] = hash
            }
        }
        if let http = try top.section("http_server_config") {
            // http2 is not served by libmicrohttpd; accept an explicit `false` only.
            if try http.bool("http2") == true { throw http.error("http2", "HTTP/2 is not supported by this build") }
            try http.rejectUnknownKeys(message: "not supported by this build")
        }
        try top.rejectUnknownKeys(message: "unknown or unsupported key")
        return config
    }

    private static func parseTLS(_ section: ConfigSection, into base: WebConfig) throws -> WebConfig {
        var config = base
        guard let certFile = try section.string("cert_file").map(section.resolvePath) else { throw section.error("cert_file", "is required") }
        guard let keyFile = try section.string("key_file").map(section.resolvePath) else { throw section.error("key_file", "is required") }
        let cert = try readPEM(certFile, section, "cert_file")
        let key = try readPEM(keyFile, section, "key_file")
        let clientCA = try section.string("client_ca_file").map(section.resolvePath).map { try readPEM($0, section, "client_ca_file") }
        if let text = try section.string("client_auth_type") {
            guard let type = ClientAuth(rawValue: text) else {
                throw section.error("client_auth_type", "must be one of \(ClientAuth.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"")
            }
            config.clientAuth = type
        }
        if config.clientAuth != .noClientCert && clientCA == nil {
            throw section.error("client_ca_file", "is required when client_auth_type is \(config.clientAuth.rawValue) (certificates are requested against it)")
        }
        let minVersion = try section.string("min_version") ?? "TLS12"
        let maxVersion = try section.string("max_version") ?? "TLS13"
        guard let low = versionOrder.firstIndex(of: minVersion) else { throw section.error("min_version", "must be one of \(versionOrder.joined(separator: ", "))") }
        guard let high = versionOrder.firstIndex(of: maxVersion) else { throw section.error("max_version", "must be one of \(versionOrder.joined(separator: ", "))") }
        guard low <= high else { throw section.error("max_version", "is below min_version") }
        let versions = versionOrder[low...high].reversed().map { "+" + tlsVersions[$0]! }
        for unsupported in ["cipher_suites", "curve_preferences", "client_allowed_sans", "prefer_server_cipher_suites"] where section.has(unsupported) {
            throw section.error(unsupported, "is not supported by this build (TLS is GnuTLS through libmicrohttpd)")
        }
        try section.rejectUnknownKeys()
        config.tls = TLSMaterial(keyPEM: key, certificatePEM: cert, clientCAPEM: clientCA,
                                 priorities: "NORMAL:-VERS-ALL:" + versions.joined(separator: ":"))
        return config
    }

    private static func readPEM(_ path: String, _ section: ConfigSection, _ key: String) throws -> String {
        let text: String
        do {
            text = try RegularFileReader.readText(path, limit: RegularFileReader.certificateLimit)
        } catch {
            throw section.error(key, "cannot read \(path): \(error)")
        }
        guard text.contains("-----BEGIN ") else { throw section.error(key, "\(path) is not PEM") }
        return text
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
