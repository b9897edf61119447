import Foundation
import InfraprobeCore
@testable import InfraprobeFakes

/// Builds a one-target config from YAML and runs it through `ComponentRunner` the way `/probe` does.
enum ProbeHarness {
    static let environment = ProberEnvironment(instanceID: "test-host-1")

    struct Outcome {
        let result: TargetProbeResult
        let elapsed: Duration

        func component(_ name: String) -> ComponentResult? { result.components.first { $0.component == name } }
        func up(_ name: String) -> Bool { component(name)?.ok ?? false }
        func reason(_ name: String) -> FailureReason? { component(name)?.failure?.reason }
        var allUp: Bool { result.success }
        func fact(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            result.facts.first { $0.name == name && $0.labels == labels }?.value
        }
        /// For failure messages: every component's outcome.
        var summary: String {
            result.components.map { "\($0.component)=\($0.failure.map { "\($0.reason.rawValue): \($0.message)" } ?? "up")" }
                .joined(separator: "\n")
        }
    }

    /// `settings` are the target's YAML lines (without `prober:`), indented by the caller-free convention `key: value`.
    static func probe(_ kind: String, _ settings: [String], deadline: Duration = .milliseconds(1500),
                      directory: URL = URL(fileURLWithPath: NSTemporaryDirectory()),
                      environment: ProberEnvironment = ProbeHarness.environment) async throws -> Outcome {
        let yaml = "targets:\n  t:\n    prober: \(kind)\n" + settings.map { "    \($0)\n" }.joined()
        let config = try ConfigLoader(environment: environment).parse(yaml: yaml, file: "test.yml", baseDirectory: directory)
        let start = ContinuousClock.now
        let result = await ComponentRunner.run(target: config.targets[0], deadline: .after(deadline), environment: environment)
        return Outcome(result: result, elapsed: ContinuousClock.now - start)
    }

    /// Writes a secret file and returns its path.
    static func secretFile(_ content: String) throws -> String {
        let path = NSTemporaryDirectory() + "infraprobe-secret-\(UInt64.random(in: 0...UInt64.max))"
        try (content + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

import Testing

extension GeneralFault {
    static let all: [GeneralFault] = [.down, .hang, .slow(.seconds(3)), .serverError, .garbage]

    /// The reason `service_running` must report under this fault.
    var expectedGateReason: FailureReason {
        switch self {
        case .none: .unexpectedResponse
        case .down: .connectionRefused
        case .hang, .slow: .timeout
        case .serverError: .httpStatus
        case .garbage: .unexpectedResponse
        }
    }
}

extension ProbeHarness.Outcome {
    /// Every component down; the gate with the fault's reason; when the service is unreachable
    /// the others are not attempted; and the answer came before the deadline (1.5 s) plus slack.
    func expectGeneralFault(_ fault: GeneralFault, gate: String = "service_running",
                            sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!result.components.contains { $0.ok }, "some component passed under \(fault.description):\n\(summary)", sourceLocation: sourceLocation)
        #expect(reason(gate) == fault.expectedGateReason, "\(summary)", sourceLocation: sourceLocation)
        if fault.expectedGateReason.meansServiceUnreachable {
            for component in result.components where component.component != gate {
                #expect(component.failure?.reason == .dependencyFailed, "\(component.component): \(summary)", sourceLocation: sourceLocation)
            }
        }
        #expect(elapsed < .seconds(2), "probe took \(elapsed)", sourceLocation: sourceLocation)
    }
}
