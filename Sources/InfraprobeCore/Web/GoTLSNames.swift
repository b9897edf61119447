/// exporter-toolkit's TLS settings name Go `crypto/tls` constants; GnuTLS (through libmicrohttpd)
/// takes a priority string of key-exchange, cipher and MAC keywords instead. This maps the names
/// Go accepts (`tls.CipherSuites()`, the toolkit's curve and version tables) and nothing else, so
/// an invented name is refused as the toolkit refuses it.
enum GoTLSNames {
    struct Suite {
        /// nil for TLS 1.3 suites: Go always enables all three and ignores them in `cipher_suites`.
        let keyExchange: String?
        let cipher: String
        let mac: String
    }

    static let suites: [String: Suite] = [
        "TLS_RSA_WITH_AES_128_CBC_SHA": Suite(keyExchange: "RSA", cipher: "AES-128-CBC", mac: "SHA1"),
        "TLS_RSA_WITH_AES_256_CBC_SHA": Suite(keyExchange: "RSA", cipher: "AES-256-CBC", mac: "SHA1"),
        "TLS_RSA_WITH_AES_128_GCM_SHA256": Suite(keyExchange: "RSA", cipher: "AES-128-GCM", mac: "AEAD"),
        "TLS_RSA_WITH_AES_256_GCM_SHA384": Suite(keyExchange: "RSA", cipher: "AES-256-GCM", mac: "AEAD"),
        "TLS_AES_128_GCM_SHA256": Suite(keyExchange: nil, cipher: "AES-128-GCM", mac: "AEAD"),
        "TLS_AES_256_GCM_SHA384": Suite(keyExchange: nil, cipher: "AES-256-GCM", mac: "AEAD"),
        "TLS_CHACHA20_POLY1305_SHA256": Suite(keyExchange: nil, cipher: "CHACHA20-POLY1305", mac: "AEAD"),
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": Suite(keyExchange: "ECDHE-ECDSA", cipher: "AES-128-CBC", mac: "SHA1"),
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": Suite(keyExchange: "ECDHE-ECDSA", cipher: "AES-256-CBC", mac: "SHA1"),
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": Suite(keyExchange: "ECDHE-RSA", cipher: "AES-128-CBC", mac: "SHA1"),
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": Suite(keyExchange: "ECDHE-RSA", cipher: "AES-256-CBC", mac: "SHA1"),
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": Suite(keyExchange: "ECDHE-ECDSA", cipher: "AES-128-GCM", mac: "AEAD"),
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": Suite(keyExchange: "ECDHE-ECDSA", cipher: "AES-256-GCM", mac: "AEAD"),
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": Suite(keyExchange: "ECDHE-RSA", cipher: "AES-128-GCM", mac: "AEAD"),
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": Suite(keyExchange: "ECDHE-RSA", cipher: "AES-256-GCM", mac: "AEAD"),
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": Suite(keyExchange: "ECDHE-RSA", cipher: "CHACHA20-POLY1305", mac: "AEAD"),
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": Suite(keyExchange: "ECDHE-ECDSA", cipher: "CHACHA20-POLY1305", mac: "AEAD"),
    ]

    /// Go's net/http refuses to serve HTTP/2 over TLS 1.2 without one of these (RFC 7540 §9.2.2).
    static let http2Required = ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]

    static let curves = ["CurveP256": "GROUP-SECP256R1", "CurveP384": "GROUP-SECP384R1", "CurveP521": "GROUP-SECP521R1", "X25519": "GROUP-X25519"]

    static let versions = ["TLS10": "VERS-TLS1.0", "TLS11": "VERS-TLS1.1", "TLS12": "VERS-TLS1.2", "TLS13": "VERS-TLS1.3"]
    static let versionOrder = ["TLS10", "TLS11", "TLS12", "TLS13"]

    /// The GnuTLS priority string for the settings; `suites`/`curves` nil means Go's defaults.
    static func priorities(minVersion: String, maxVersion: String, suites: [String]?, curves: [String]?, preferServerOrder: Bool) -> String {
        let low = versionOrder.firstIndex(of: minVersion)!, high = versionOrder.firstIndex(of: maxVersion)!
        var parts = ["NORMAL", "-VERS-ALL"] + versionOrder[low...high].reversed().map { "+" + versions[$0]! }
        if let suites, !suites.isEmpty {
            var ordered = suites.compactMap { Self.suites[$0] }.filter { $0.keyExchange != nil }
            if high == versionOrder.count - 1 {
                // Go enables every TLS 1.3 suite whatever cipher_suites says.
                ordered += ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"].map { Self.suites[$0]! }
            }
            parts += ["-CIPHER-ALL"] + unique(ordered.map(\.cipher)).map { "+" + $0 }
            parts += ["-MAC-ALL"] + unique(ordered.map(\.mac)).map { "+" + $0 }
            parts += ["-KX-ALL"] + unique(ordered.compactMap(\.keyExchange)).map { "+" + $0 }
        }
        if let curves, !curves.isEmpty {
            parts += ["-GROUP-ALL"] + unique(curves.compactMap { Self.curves[$0] }).map { "+" + $0 }
        }
        if preferServerOrder { parts.append("%SERVER_PRECEDENCE") }
        // Go signs with its certificate whatever its keyUsage says; GnuTLS refuses an RSA
        // certificate without digitalSignature for ECDHE and TLS 1.3 unless told (exporter-toolkit's
        // own test certificate is one). Clients still check the usage themselves.
        parts.append("%DEBUG_ALLOW_KEY_USAGE_VIOLATIONS")
        return parts.joined(separator: ":")
    }

    private static func unique(_ items: [String]) -> [String] {
        var seen = Set<String>()
        return items.filter { seen.insert($0).inserted }
    }
}
