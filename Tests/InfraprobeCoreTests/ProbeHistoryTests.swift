import Foundation
import Logging
import Testing
@testable import InfraprobeCore

/// The probe history behind `/` and `/logs` is bounded in records and in bytes.
@Suite("Probe history is bounded", .serialized)
struct ProbeHistoryTests {
    static func service(historyLimit: Int, historyByteLimit: Int) throws -> (ProbeService, TargetSpec) {
        let yaml = "targets:\n  refused:\n    prober: redis\n    address: 127.0.0.1:1\n"
        let config = try ConfigLoader(environment: ProbeHarness.environment)
            .parse(yaml: yaml, file: "test.yml", baseDirectory: URL(fileURLWithPath: NSTemporaryDirectory()))
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let service = ProbeService(config: config, environment: ProbeHarness.environment, metrics: SelfMetrics(version: "t", revision: "t"),
                                   historyLimit: historyLimit, historyByteLimit: historyByteLimit, logger: logger)
        return (service, config.targets[0])
    }

    @Test func test_history_evictsOldest_pastItsByteBudget() async throws {
        let (service, target) = try Self.service(historyLimit: 100, historyByteLimit: 10_000)
        for _ in 0..<30 { _ = try await service.probe(target, timeout: .seconds(2)) }
        let history = service.history
        let sizes = history.map(\.estimatedBytes)
        #expect(sizes.allSatisfy { $0 > 0 && $0 < 10_000 })
        #expect(history.count > 1 && history.count < 30, "\(history.count) records of \(sizes) B")
        #expect(service.historyBytes == sizes.reduce(0, +))
        #expect(service.historyBytes <= 10_000)
        #expect(service.historyBytes + (sizes.min() ?? 0) > 10_000, "no more evicted than needed (the records are alike in size)")
        #expect(history.map(\.id) == Array((31 - history.count)...30), "the newest are kept, in order")
        #expect(service.record(id: 1) == nil && service.record(id: 30) != nil)
    }

    @Test func test_history_keepsTheNewestRecord_evenPastABudgetItExceedsAlone() async throws {
        let (service, target) = try Self.service(historyLimit: 100, historyByteLimit: 1)
        for _ in 0..<3 { _ = try await service.probe(target, timeout: .seconds(2)) }
        #expect(service.history.map(\.id) == [3])
    }

    @Test func test_history_isStillCappedInCount() async throws {
        let (service, target) = try Self.service(historyLimit: 5, historyByteLimit: ProbeService.defaultHistoryByteLimit)
        for _ in 0..<12 { _ = try await service.probe(target, timeout: .seconds(2)) }
        #expect(service.history.map(\.id) == Array(8...12))
    }

    /// The ring keeps exactly what trimming an array from the front keeps, through growth,
    /// wrap-around and byte evictions of several records at once.
    @Test func test_historyRing_keepsWhatTheArrayKept_forMixedSizes() {
        for (countLimit, byteLimit) in [(5, 1_000), (7, 350), (3, 10_000), (1, 10), (0, 100)] {
            var ring = ProbeHistory(countLimit: countLimit, byteLimit: byteLimit)
            var array: [(id: Int, bytes: Int)] = []
            for id in 1...60 {
                let bytes = [40, 300, 90, 15, 220, 500, 60][id % 7]
                ring.append(ProbeRecord(id: id, result: Self.emptyResult, settings: []), bytes: bytes)
                array.append((id, bytes))
                while array.count > countLimit || (array.reduce(0) { $0 + $1.bytes } > byteLimit && array.count > 1) { array.removeFirst() }
                #expect(ring.records.map(\.id) == array.map(\.id), "limits \(countLimit)/\(byteLimit) after \(id)")
                #expect(ring.bytes == array.reduce(0) { $0 + $1.bytes })
                for kept in [id, id - 3] {
                    #expect(ring.record(id: kept)?.id == (array.contains { $0.id == kept } ? kept : nil))
                }
            }
        }
    }

    static let emptyResult = TargetProbeResult(target: "t", prober: "redis", components: [], facts: [], version: nil,
                                               duration: .zero, startedAt: 0)
}
