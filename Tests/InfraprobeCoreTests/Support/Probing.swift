import Foundation
@testable import InfraprobeCore

/// Builds targets from YAML the way the exporter does, and probes them.
enum Probe {
    static let environment = ProberEnvironment(instanceID: "test")

    static func config(_ yaml: String, directory: URL = FileManager.default.temporaryDirectory) throws -> InfraprobeConfig {
        try ConfigLoader(environment: environment).parse(yaml: yaml, file: "test.yml", baseDirectory: directory)
    }

    static func target(_ yaml: String) throws -> TargetSpec {
        try #require(config(yaml).targets.first)
    }

    /// One redis target named `cache` at `address`; `extra` holds more of its settings, one a line.
    static func redisConfig(_ address: String, extra: String = "") throws -> InfraprobeConfig {
        try config("""
        targets:
          cache:
            prober: redis
            address: \(address)
        \(extra.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        """)
    }

    static func redis(_ address: String, extra: String = "") throws -> TargetSpec {
        try #require(redisConfig(address, extra: extra).targets.first)
    }

    /// A probe service as the exporter builds it, for tests of what it shares between scrapes.
    static func service(_ config: InfraprobeConfig) -> ProbeService {
        ProbeService(config: config, environment: environment, metrics: SelfMetrics(version: "t", revision: "t"))
    }

    static func run(_ target: TargetSpec, timeout: Duration = .seconds(5)) async -> TargetProbeResult {
        await ComponentRunner.run(target: target, deadline: .after(timeout), environment: environment)
    }
}

import Testing

extension TargetProbeResult {
    func component(_ name: String) -> ComponentResult? { components.first { $0.component == name } }

    func reason(_ name: String) -> FailureReason? { component(name)?.failure?.reason }

    var failureSummary: String {
        components.compactMap { c in c.failure.map { "\(c.component): \($0)" } }.joined(separator: "; ")
    }
}
