import CShims
import FoundationEssentials
import Glibc

/// `tls_server_config` of the exporter-toolkit web config, read as the toolkit reads it: TLS is on
/// when any certificate, key or client-auth key is set; unknown keys and names are refused first
/// (the toolkit unmarshals strictly), then missing material, then unreadable files.
enum WebTLSConfig {
    static let keys = ["cert", "key", "cert_file", "key_file", "client_ca", "client_ca_file", "client_auth_type",
                       "cipher_suites", "curve_preferences", "min_version", "max_version",
                       "prefer_server_cipher_suites", "client_allowed_sans"]
    /// Go verifies client certificates against the system roots when no client CA is given.
    static let systemTrustBundle = "/etc/ssl/certs/ca-certificates.crt"

    struct Parsed {
        var tls: TLSMaterial?
        var clientAuth: WebConfig.ClientAuth = .noClientCert
        var clientAllowedSANs: [String]?
        var suites: [String]?
        var minVersion = "TLS12"
        /// Files whose change triggers a reload.
        var files: [String] = []
    }

    static func parse(_ section: ConfigSection) throws -> Parsed {
        keys.forEach(section.markRead)
        try section.rejectUnknownKeys(message: "unknown key")
        var parsed = Parsed()
        let suites = try names(section, "cipher_suites", known: Set(GoTLSNames.suites.keys), kind: "cipher")
        let curves = try names(section, "curve_preferences", known: Set(GoTLSNames.curves.keys), kind: "curve")
        let minVersion = try version(section, "min_version") ?? "TLS12"
        let maxVersion = try version(section, "max_version") ?? "TLS13"
        let preferServer = try section.bool("prefer_server_cipher_suites") ?? true
        let allowedSANs = try section.stringList("client_allowed_sans")
        let authText = try section.string("client_auth_type") ?? ""
        let certFile = try nonEmpty(section, "cert_file"), keyFile = try nonEmpty(section, "key_file")
        let certInline = try nonEmpty(section, "cert"), keyInline = try nonEmpty(section, "key")
        let caFile = try nonEmpty(section, "client_ca_file"), caInline = try nonEmpty(section, "client_ca")
        let enabled = [certFile, keyFile, certInline, keyInline, caFile, caInline].contains { $0 != nil } || !authText.isEmpty
        guard enabled else { return parsed }
        guard certFile != nil || certInline != nil else { throw section.error(section.has("cert") ? "cert" : "cert_file", "missing one of cert or cert_file") }
        guard keyFile != nil || keyInline != nil else { throw section.error(section.has("key") ? "key" : "key_file", "missing one of key or key_file") }
        let cert = try certFile.map { try readPEM(section.resolvePath($0), section, "cert_file") } ?? certInline!
        let key = try keyFile.map { try readPEM(section.resolvePath($0), section, "key_file") } ?? keyInline!
        // The toolkit's pre-1.0 spelling, still accepted.
        let auth = authText.isEmpty ? WebConfig.ClientAuth.noClientCert
            : authText == "RequireClientCert" ? .requireAnyClientCert : WebConfig.ClientAuth(rawValue: authText)
        guard let auth else {
            throw section.error("client_auth_type", "invalid ClientAuth \"\(authText)\"; one of \(WebConfig.ClientAuth.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        // As in Go, a missing CA file is reported before a CA without a policy (which is checked
        // before the file is parsed: the toolkit's own example of it names /dev/null).
        if let caFile, !FileManager.default.fileExists(atPath: section.resolvePath(caFile)) {
            _ = try readPEM(section.resolvePath(caFile), section, "client_ca_file")
        }
        if (caFile != nil || caInline != nil) && auth == .noClientCert {
            throw section.error(caFile != nil ? "client_ca_file" : "client_ca", "client CA's have been configured without a Client Auth Policy (set client_auth_type)")
        }
        var clientCA = try caFile.map { try readPEM(section.resolvePath($0), section, "client_ca_file") } ?? caInline
        parsed.files = [certFile, keyFile, caFile].compactMap { $0.map(section.resolvePath) }
        if auth != .noClientCert && clientCA == nil {
            // libmicrohttpd asks for a client certificate only when it has a trust list.
            clientCA = try readPEM(systemTrustBundle, section, "client_auth_type")
            parsed.files.append(systemTrustBundle)
        }
        guard GoTLSNames.versionOrder.firstIndex(of: minVersion)! <= GoTLSNames.versionOrder.firstIndex(of: maxVersion)! else {
            throw section.error("max_version", "is below min_version")
        }
        let priorities = GoTLSNames.priorities(minVersion: minVersion, maxVersion: maxVersion, suites: suites, curves: curves,
                                               preferServerOrder: preferServer)
        let material = TLSMaterial(keyPEM: key, certificatePEM: cert, clientCAPEM: clientCA, priorities: priorities)
        if let problem = check(material) {
            throw section.error(keyFile != nil ? "key_file" : "key", "failed to load X509KeyPair: \(problem)")
        }
        parsed.tls = material
        parsed.clientAuth = auth
        parsed.clientAllowedSANs = allowedSANs
        parsed.suites = suites
        parsed.minVersion = minVersion
        return parsed
    }

    /// What GnuTLS says of the material and priority string, exactly as libmicrohttpd will load them.
    static func check(_ material: TLSMaterial) -> String? {
        var message = [CChar](repeating: 0, count: 512)
        let status = cshim_tls_check(material.keyPEM, material.certificatePEM, material.clientCAPEM, material.priorities,
                                     &message, Int32(message.count))
        guard status != 0 else { return nil }
        return message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    private static func nonEmpty(_ section: ConfigSection, _ key: String) throws -> String? {
        guard let value = try section.string(key), !value.isEmpty else { return nil }
        return value
    }

    private static func names(_ section: ConfigSection, _ key: String, known: Set<String>, kind: String) throws -> [String]? {
        guard let list = try section.stringList(key) else { return nil }
        if let unknown = list.first(where: { !known.contains($0) }) {
            throw section.error(key, "unknown \(kind): \(unknown) (one of \(known.sorted().joined(separator: ", ")))")
        }
        return list
    }

    private static func version(_ section: ConfigSection, _ key: String) throws -> String? {
        guard let text = try section.string(key) else { return nil }
        guard GoTLSNames.versions[text] != nil else {
            throw section.error(key, "unknown TLS version: \(text) (one of \(GoTLSNames.versionOrder.joined(separator: ", ")))")
        }
        return text
    }

    static func readPEM(_ path: String, _ section: ConfigSection, _ key: String) throws -> String {
        let text: String
        do {
            text = try RegularFileReader.readText(path, limit: RegularFileReader.certificateLimit)
        } catch {
            throw section.error(key, "cannot read \(path): \(error)")
        }
        guard text.contains("-----BEGIN ") else { throw section.error(key, "\(path) is not PEM") }
        return text
    }
}
