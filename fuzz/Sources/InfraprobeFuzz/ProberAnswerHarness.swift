import Foundation
@_spi(Fuzzing) import InfraprobeCore
import Logging

/// Each HTTP prober against a service whose every answer comes from the fuzz input: one probe
/// of one component (chosen by the first byte, so requests happen in a fixed order: the gate
/// component first, then the chosen one), then the exposition and debug report of its result.
///
/// Input after the first byte: answers separated by the byte 0x1E, consumed one per request.
/// An answer may start with a line `HTTP <status> <content-type>`; else it is a 200 JSON
/// answer. In a body, `$REQ_BODY` is replaced by the body of the latest request that had one
/// and `$REQ_PATH` by the request's path, so echoes (a KV read-back, a trace id) can match. When the answers run out, the
/// connection is refused.
enum ProberAnswerHarness {
    /// Answers nothing: every request fails as if the port were closed.
    static let offlineClient = HTTPClient(responder: { _ in .failure(refused) })
    static let refused = HTTPTransportError(curlCode: 7, reason: .connectionRefused, message: "connection refused (fuzz)")

    static let script = Script()
    static let scriptedClient = HTTPClient(responder: { request in script.answer(request) })

    static let kinds: [(harness: String, kind: String, settings: String)] = [
        ("consul_answers", "consul", "url: http://consul.fuzz.invalid:8500\n    expected_peers: 3"),
        ("arangodb_answers", "arangodb", "url: http://arangodb.fuzz.invalid:8529\n    username: root\n    password: pw"),
        ("tempo_answers", "tempo", "url: http://tempo.fuzz.invalid:3200"),
        ("grafana_answers", "grafana", "url: http://grafana.fuzz.invalid:3000\n    token: t"),
        ("otelcol_answers", "otel_collector",
         "health_url: http://otelcol.fuzz.invalid:13133\n    otlp_url: http://otelcol.fuzz.invalid:4318\n    metrics_url: http://otelcol.fuzz.invalid:8888"),
    ]

    static var harnesses: [Harness] {
        kinds.map { entry in
            // Built on first use: only the selected harness pays for its config.
            let setup = LazyService(kind: entry.kind, settings: entry.settings)
            return Harness(name: entry.harness) { bytes in run(bytes, setup.value) }
        }
    }

    static func run(_ bytes: [UInt8], _ setup: (service: ProbeService, targets: [TargetSpec])) {
        guard let selector = bytes.first else { return }
        let target = setup.targets[Int(selector) % setup.targets.count]
        script.load(Array(bytes.dropFirst()))
        let record = runBlocking { try? await setup.service.probe(target, timeout: .milliseconds(500)) }
        guard let record else { fatalError("a lone probe was refused as overload") }
        let families = ProbeMetrics.families(for: [record.result], includeOverall: false)
        _ = ExpositionWriter.write(families, format: .text004)
        _ = ExpositionWriter.write(families, format: .openMetrics100)
        _ = DebugReport.render(record)
    }

    /// One target per component, each probing only that component (plus the gate).
    final class LazyService: @unchecked Sendable {
        let kind: String
        let settings: String
        lazy var value: (service: ProbeService, targets: [TargetSpec]) = {
            let environment = ProberEnvironment(instanceID: "fuzz", http: scriptedClient)
            let components = ProberRegistry.standard.descriptors[kind]!.componentNames
            var yaml = "targets:\n"
            for component in components {
                yaml += "  \(component):\n    prober: \(kind)\n    components: [\(component)]\n    \(settings)\n"
            }
            let config = try! ConfigLoader(environment: environment).parse(yaml: yaml, file: "fuzz.yml", baseDirectory: ConfigHarness.baseDirectory)
            let quiet = Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() }
            let service = ProbeService(config: config, environment: environment, metrics: SelfMetrics(version: "fuzz", revision: "fuzz"),
                                       historyLimit: 2, logger: quiet)
            return (service, config.targets)
        }()

        init(kind: String, settings: String) {
            self.kind = kind
            self.settings = settings
        }
    }

    /// The answers of the current input, handed out in request order.
    final class Script: @unchecked Sendable {
        private let lock = NSLock()
        private var answers: ArraySlice<[UInt8]> = []
        private var lastBody: [UInt8] = []

        func load(_ bytes: [UInt8]) {
            lock.withLock {
                answers = ArraySlice(bytes.split(separator: 0x1E, omittingEmptySubsequences: false).map(Array.init))
                lastBody = []
            }
        }

        func answer(_ request: HTTPClientRequest) -> HTTPClientResult {
            let (answer, echoed) = lock.withLock { () -> ([UInt8]?, [UInt8]) in
                if let body = request.body { lastBody = body }
                return (answers.popFirst(), lastBody)
            }
            guard let next = answer else { return .failure(refused) }
            var status = 200
            var contentType: String? = "application/json"
            var body = next
            if body.starts(with: Array("HTTP ".utf8)) {
                let lineEnd = body.firstIndex(of: UInt8(ascii: "\n")) ?? body.endIndex
                let words = String(decoding: body[5..<lineEnd], as: UTF8.self).split(separator: " ", maxSplits: 1)
                if let first = words.first, let code = Int(first), (100...999).contains(code) { status = code }
                contentType = words.count > 1 ? String(words[1]) : nil
                body = Array(body[min(lineEnd + 1, body.endIndex)...])
            }
            let path = Array((URLComponents(string: request.url)?.path ?? "").utf8)
            body = substitute(substitute(body, "$REQ_BODY", echoed), "$REQ_PATH", path)
            return .response(HTTPClientResponse(status: status, contentType: contentType, body: body))
        }

        private func substitute(_ body: [UInt8], _ token: String, _ replacement: [UInt8]) -> [UInt8] {
            let marker = Array(token.utf8)
            var out: [UInt8] = []
            var index = 0
            while index < body.count {
                if body[index] == marker[0], body.count - index >= marker.count, Array(body[index..<index + marker.count]) == marker {
                    out += replacement
                    index += marker.count
                } else {
                    out.append(body[index])
                    index += 1
                }
            }
            return out
        }
    }
}
