import Foundation
import Testing
@testable import InfraprobeCore

/// Inputs the fuzz harnesses (fuzz/) found to crash the exporter, each pinned as a test before
/// its fix. The services here are real HTTP servers on loopback answering what the crashing
/// input answered.
@Suite("Fuzz findings")
struct FuzzFindingsTests {
    /// Serves fixed answers by path; everything else is 404.
    static func withService(_ answers: [String: (status: Int, body: String)], _ body: (String) async throws -> Void) async throws {
        let server = HTTPServer(listen: try #require(ListenAddress("127.0.0.1:0"))) { request, _ in
            guard let answer = answers[request.path] else { return .text(404, "not found") }
            return HTTPResponse(status: answer.status, contentType: "application/json", body: answer.body)
        }
        try server.start()
        do { try await body("http://127.0.0.1:\(server.port)") } catch {
            await BlockingExecutor.shared.run { server.stop() }
            throw error
        }
        await BlockingExecutor.shared.run { server.stop() }
    }

    /// otelcol_answers: `Int(rejected)` trapped on a rejected count beyond Int's range.
    @Test(arguments: ["1e300", "-1e300", "\"1e300\"", "9.5", "-1"])
    func test_otelTracesIngest_failsUnexpectedResponse_whenRejectedSpansIsNoCount(_ count: String) async throws {
        let answers: [String: (status: Int, body: String)] = [
            "/": (200, #"{"status":"Server available"}"#),
            "/v1/traces": (200, #"{"partialSuccess":{"rejectedSpans":\#(count),"errorMessage":"x"}}"#),
        ]
        try await Self.withService(answers) { url in
            let outcome = try await ProbeHarness.probe("otel_collector", [
                "health_url: \(url)/", "otlp_url: \(url)", "metrics_url: \(url)/metrics",
                "components: [service_running, otlp_traces_ingest]",
            ])
            #expect(outcome.result.reason("service_running") == nil, "\(outcome.summary)")
            #expect(outcome.result.reason("otlp_traces_ingest") == .unexpectedResponse, "\(outcome.summary)")
        }
    }
}
