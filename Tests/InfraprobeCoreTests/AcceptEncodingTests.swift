import Foundation
import Testing
@testable import InfraprobeCore

/// `Accept-Encoding` with q-values, as RFC 9110 §12.5.3 has it, and what the server does with it.
@Suite("Accept-Encoding")
struct AcceptEncodingTests {
    @Test(arguments: [
        ("gzip", true), ("GZIP", true), ("x-gzip", true), ("gzip;q=1", true), ("gzip; q=0.5", true),
        ("gzip;q=0.001", true), ("*", true), ("br, *;q=0.1", true), ("deflate, gzip", true),
        ("gzip;q=0", false), ("gzip;Q=0", false), ("gzip ; q = 0", false), ("gzip;q=0.0", false),
        ("gzip;q=0.000", false), ("\tgzip\t;\tq=0\t", false), ("*;q=0", false), ("gzip;q=0, *", false),
        ("identity", false), ("", false), ("br", false), ("gzip;q=2", false), ("gzip;q=-1", false),
        ("gzip;q=0.0001", false), ("gzip;q=1e0", false), ("gzip;q=nan", false),
    ])
    func test_acceptsGzip_parsesQValues(header: String, accepts: Bool) {
        #expect(AcceptEncoding(header).acceptsGzip == accepts, "\(header)")
    }

    /// finalize skips parsing a header the prefilter rules out; it must never rule out one that accepts gzip.
    @Test(arguments: [
        "gzip", "GZIP", "GzIp;q=0.5", "x-gzip", "X-GZIP", "br;q=0.1, x-ggzip, gzip;q=0.2", "br, *;q=0.1", "*", "deflate,gzip", "identity, gzip;q=1",
    ])
    func test_gzipPrefilter_keepsEveryHeaderThatAcceptsGzip(header: String) {
        #expect(AcceptEncoding(header).acceptsGzip)
        #expect(AcceptEncoding.mayAcceptGzip(header), "\(header)")
    }

    @Test(arguments: ["identity", "", "br", "deflate, br;q=0.5", "gzi", "zip", "g zip", "identity;q=1, deflate"])
    func test_gzipPrefilter_rulesOutHeadersWithoutGzipOrStar(header: String) {
        #expect(!AcceptEncoding(header).acceptsGzip)
        #expect(!AcceptEncoding.mayAcceptGzip(header), "\(header)")
    }

    @Test func test_acceptsGzip_isFalseWithoutTheHeader() {
        #expect(!AcceptEncoding(nil).acceptsGzip)
    }

    @Test(arguments: [
        ("identity;q=0", true), ("IDENTITY;q=0.0", true), ("*;q=0", true), ("gzip, *;q=0", true),
        ("identity, *;q=0", false), ("identity;q=0.5", false), ("gzip", false), ("identity;q=x", false),
    ])
    func test_refusesIdentity(header: String, refuses: Bool) {
        #expect(AcceptEncoding(header).refusesIdentity == refuses, "\(header)")
    }

    @Test func test_finalize_honoursGzipQZero_andIdentityQZero() {
        let big = HTTPResponse(status: 200, body: String(repeating: "metric 1\n", count: 200))
        #expect(HTTPServer.finalize(big, acceptEncoding: "gzip").header("content-encoding") == "gzip")
        #expect(HTTPServer.finalize(big, acceptEncoding: "gzip;q=0").header("content-encoding") == nil)
        #expect(HTTPServer.finalize(big, acceptEncoding: "*;q=0").header("content-encoding") == nil)
        // Small bodies are sent as they are, unless the client refuses that.
        let small = HTTPResponse.text(200, "ok")
        #expect(HTTPServer.finalize(small, acceptEncoding: "gzip").header("content-encoding") == nil)
        #expect(HTTPServer.finalize(small, acceptEncoding: "gzip, identity;q=0").header("content-encoding") == "gzip")
        // Refusing both: the body still goes out uncompressed rather than failing the scrape.
        #expect(HTTPServer.finalize(small, acceptEncoding: "identity;q=0").header("content-encoding") == nil)
    }

    @Test func test_metrics_overHTTP_isNotCompressed_whenGzipHasQZero() async throws {
        let exporter = try TestExporter(config: "targets:\n  r:\n    prober: redis\n    address: 127.0.0.1:1\n")
        let compressed = try await exporter.get("/metrics", headers: ["Accept-Encoding": "gzip"])
        #expect(compressed.headers["content-encoding"] == "gzip")
        let refused = try await exporter.get("/metrics", headers: ["Accept-Encoding": "gzip;q=0, identity"])
        #expect(refused.headers["content-encoding"] == nil)
        #expect(refused.text.contains("# TYPE infraprobe_build_info gauge") || refused.text.contains("infraprobe_"), "\(refused.text.prefix(200))")
    }
}
