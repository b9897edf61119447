import FoundationEssentials
import Glibc

/// Finds what ArangoDB probes left behind (an exporter killed mid-probe, a server that hung
/// before the drop): databases among those the probe user can see (`/_api/database/user`, which
/// needs no admin rights, unlike `/_api/database`), then graphs (with their collections) and
/// collections in the configured database. Only names that parse as
/// `infraprobe_<instance>_<nonce>_<component>` with a nonce older than the sweep's minimum age.
extension ArangoDBProber: LeftoverSweeping {
    static let namePrefix = "infraprobe"

    public func sweepLeftovers(_ sweep: LeftoverSweep) async -> SweepReport {
        let context = ComponentContext.sweeping(target: sweep.target, deadline: sweep.deadline, prober: Self.descriptor.kind)
        let now = Date()
        var report = SweepReport()
        let abandoned: (String) -> Bool = { name in
            guard let parsed = ProbeObjectName.parse(name, prefix: Self.namePrefix, separator: "_", now: now) else { return false }
            return parsed.age(now: now) >= sweep.minimumAge
        }
        let kinds: [(what: String, list: String, names: (JSONValue) -> [String], drop: (String) -> String, expect: Set<Int>)] = [
            ("databases", "/_db/_system/_api/database/user", { ($0["result"]?.array ?? []).compactMap(\.string) },
             { "/_db/_system/_api/database/\(urlEncode($0))" }, [200, 404]),
            ("graphs", api("/_api/gharial"), { ($0["graphs"]?.array ?? []).compactMap { $0["name"]?.string ?? $0["_key"]?.string } },
             { api("/_api/gharial/\(urlEncode($0))?dropCollections=true") }, [200, 201, 202, 404]),
            // After the graphs: a collection a graph still uses would not drop cleanly.
            ("collections", api("/_api/collection?excludeSystem=true"), { ($0["result"]?.array ?? []).compactMap { $0["name"]?.string } },
             { api("/_api/collection/\(urlEncode($0))") }, [200, 404]),
        ]
        for kind in kinds {
            guard !sweep.deadline.hasPassed else {
                report.failures.append("\(kind.what): not listed, the sweep's deadline passed")
                continue
            }
            let names: [String]
            do {
                names = kind.names(try await endpoint.json("GET", kind.list, context: context).json).filter(abandoned)
            } catch {
                report.failures.append("listing \(kind.what): \((error as? ProbeFailure)?.message ?? "\(error)")")
                continue
            }
            report.found += names.count
            for name in names {
                guard report.removed < sweep.limit, !sweep.deadline.hasPassed else { break }
                do {
                    try await endpoint.call("DELETE", kind.drop(name), expect: kind.expect, context: context)
                    report.removed += 1
                } catch {
                    report.failures.append("dropping \(name): \((error as? ProbeFailure)?.message ?? "\(error)")")
                }
            }
        }
        return report
    }
}
