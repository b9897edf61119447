import FoundationEssentials
import Glibc

/// What probes can leave in Consul when their exporter dies mid-probe: KV keys under the
/// prefix, short-lived registration services, and the probe services of exporters that are
/// gone. Ownership is proven by meta (`infraprobe_instance`, `infraprobe_role`), never by
/// name; age by the creation time written with the object (KV flags, `infraprobe_created`).
extension ConsulProber: LeftoverSweeping {
    public func sweepLeftovers(_ sweep: LeftoverSweep) async -> SweepReport {
        let context = ComponentContext.sweeping(target: sweep.target, deadline: sweep.deadline, prober: Self.descriptor.kind)
        var report = SweepReport()
        let minimumAge = Int(sweep.minimumAge.components.seconds)
        let now = Self.unixNow()
        await sweepKV(minimumAge: minimumAge, now: now, limit: sweep.limit, report: &report, context: context)
        await sweepServices(minimumAge: minimumAge, now: now, limit: sweep.limit, report: &report, context: context)
        return report
    }

    /// Keys `<prefix>/<instance>/<nonce>/kv` whose flags (unix seconds at creation) are older
    /// than the minimum age; deleted with `cas` so a key rewritten meanwhile is left alone.
    func sweepKV(minimumAge: Int, now: Int, limit: Int, report: inout SweepReport, context: ComponentContext) async {
        let prefix = keyPrefix + "/"
        let listing = "/v1/kv/" + prefix.split(separator: "/").map { urlEncode(String($0)) }.joined(separator: "/") + "/?recurse"
        let entries: [JSONValue]
        do {
            let response = try await consulCall("GET", listing, expect: [200, 404], context: context)
            guard response.status == 200 else { return }
            guard let list = JSONValue.parse(response.body)?.array else {
                report.failures.append("KV listing under \(prefix) is not a JSON array")
                return
            }
            entries = list
        } catch {
            report.failures.append("KV listing under \(prefix): \(error)")
            return
        }
        for entry in entries {
            guard let key = entry["Key"]?.string, key.hasPrefix(prefix) else { continue }
            let parts = key.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[2] == "kv", !parts[0].isEmpty, !parts[1].isEmpty,
                  let flags = entry["Flags"]?.double, flags >= 1, flags <= Double(now),
                  now - Int(flags) >= minimumAge,
                  let modifyIndex = entry["ModifyIndex"]?.double, modifyIndex >= 1, modifyIndex < 9e15 else { continue }
            report.found += 1
            guard report.removed < limit else { continue }
            let path = "/v1/kv/" + key.split(separator: "/").map { urlEncode(String($0)) }.joined(separator: "/") + "?cas=\(Int(modifyIndex))"
            do {
                let (_, deleted) = try await consulJSON("DELETE", path, context: context)
                if deleted.bool == true { report.removed += 1 } else { report.failures.append("KV \(key) changed while sweeping; left alone") }
            } catch {
                report.failures.append("KV \(key): \(error)")
            }
        }
    }

    /// The agent's services with infraprobe meta: a registration older than the minimum age
    /// (one lives for a probe's seconds), or another exporter's probe service whose TTL check
    /// is critical (no exporter drives it any more). This exporter's probe service stays.
    func sweepServices(minimumAge: Int, now: Int, limit: Int, report: inout SweepReport, context: ComponentContext) async {
        let services: [String: JSONValue]
        let statuses: [String: String]
        do {
            let (_, listed) = try await consulJSON("GET", "/v1/agent/services?" + Self.filter("\"infraprobe_instance\" in Meta"), context: context)
            guard let object = listed.object else {
                report.failures.append("/v1/agent/services is not a JSON object")
                return
            }
            services = object
            let (_, checks) = try await consulJSON("GET", "/v1/agent/checks?" + Self.filter("ServiceName == \(Self.quoted(Self.serviceName))"), context: context)
            var byService: [String: String] = [:]
            for check in (checks.object ?? [:]).values {
                if let service = check["ServiceID"]?.string, let status = check["Status"]?.string { byService[service] = status }
            }
            statuses = byService
        } catch {
            report.failures.append("agent service listing: \(error)")
            return
        }
        for (id, service) in services.sorted(by: { $0.key < $1.key }) {
            guard let meta = service["Meta"], let instance = meta["infraprobe_instance"]?.string, !instance.isEmpty,
                  let role = meta["infraprobe_role"]?.string,
                  let created = meta["infraprobe_created"]?.string.flatMap(Int.init), created >= 1, created <= now,
                  now - created >= minimumAge else { continue }
            switch role {
            case "registration":
                break
            case "probe" where instance != instanceID && statuses[id] == "critical":
                break
            default:
                continue
            }
            report.found += 1
            guard report.removed < limit else { continue }
            do {
                let response = try await consulCall("PUT", "/v1/agent/service/deregister/\(urlEncode(id))", expect: [200, 404], context: context)
                if response.status == 200 { report.removed += 1 }
            } catch {
                report.failures.append("service \(id): \(error)")
            }
        }
    }
}
