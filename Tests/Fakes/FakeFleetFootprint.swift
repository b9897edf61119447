import Foundation
import InfraprobeCore

/// What a probe costs the services, for `scripts/footprint`: every request each fake has seen since
/// the last reset (`role METHOD path?query-keys`), and every object the fakes hold now, so a
/// snapshot before and after one scrape shows what the scrape sent and what it left behind.
extension FakeFleet {
    public func footprint() -> JSONValue {
        var fakes: [String: JSONValue] = [:]
        for (name, fake) in all {
            fakes[name] = .object([
                "requests": .array(fake.requestLog.current.map(JSONValue.string)),
                "objects": .array(objects(of: fake).map(JSONValue.string)),
            ])
        }
        return .object(fakes)
    }

    public func resetRequestLogs() {
        for (_, fake) in all { fake.requestLog.withLock { $0.removeAll() } }
    }

    private func objects(of fake: FakeService) -> [String] {
        switch fake {
        case let consul as FakeConsul:
            let state = consul.state.current
            return state.kv.keys.map { "kv \($0)" } + state.services.keys.map { "service \($0)" } + state.checks.keys.map { "check \($0)" }
        case let arango as FakeArangoDB:
            return arango.state.current.databases.flatMap { name, database in
                ["database \(name)"]
                    + database.collections.flatMap { collection, content in
                        ["collection \(name)/\(collection)"] + content.documents.keys.map { "document \(name)/\(collection)/\($0)" }
                    }
                    + database.graphs.keys.map { "graph \(name)/\($0)" }
            }
        case let tempo as FakeTempo:
            return tempo.spans.current.map { "span \($0.traceID)/\($0.spanID)" }
        case let otel as FakeOTelCollector:
            let counters = otel.counters.current
            return (0..<counters.acceptedSpans).map { "accepted span #\($0)" } + (0..<counters.acceptedPoints).map { "accepted metric point #\($0)" }
        default:
            return []
        }
    }
}
