/// Which components of a probe are served from their last result instead of running
/// (`components: {NAME: {every: DURATION}}`).
///
/// A check and the checks it depends on, or that depend on it, form a group that always runs
/// together: a dependent reads values its dependency shares within the same probe (Tempo's
/// `trace_query` needs the id `trace_ingest` just pushed), so serving one from the cache and
/// running the other would compare against nothing. A group is served from the cache only when
/// every member has a cached result that is still fresh; otherwise the whole group runs. The
/// gate (`service_running`) is no member of any group: when it is served from the cache, the
/// checks behind it go by its cached outcome.
enum ComponentCadence {
    /// A result is due again at 95 % of `every`: scrapes never land exactly on the interval, and
    /// without the slack a 5m component scraped every 30 s would run every 5m30s.
    static let slack = 0.05

    static func isFresh(_ result: ComponentResult, every: Duration, now: Double) -> Bool {
        guard every > .zero else { return false }
        let age = now - result.lastRunAt
        return age >= 0 && age < every.seconds * (1 - slack)
    }

    /// Only results of checks that really ran are kept: a `dependency_failed` "not attempted"
    /// says nothing about the component and must not hide it for a whole interval.
    static func isCacheable(_ result: ComponentResult) -> Bool {
        !result.servedFromCache && result.failure?.reason != .dependencyFailed
    }

    /// The cached results to serve for this probe, by component.
    static func served(order: [String], checks: [String: ComponentCheck], every: [String: Duration],
                       cache: [String: ComponentResult], now: Double) -> [String: ComponentResult] {
        guard !cache.isEmpty else { return [:] }
        var served: [String: ComponentResult] = [:]
        for group in groups(order: order, checks: checks) {
            let fresh = group.compactMap { name -> ComponentResult? in
                guard let cached = cache[name], isFresh(cached, every: every[name] ?? .zero, now: now) else { return nil }
                return cached
            }
            if fresh.count == group.count {
                for result in fresh { served[result.component] = result }
            }
        }
        return served
    }

    /// How often each component really runs at the latest, for
    /// `infraprobe_component_run_interval_seconds`: its group runs as soon as any member is due,
    /// so a component's interval is the shortest `every` in its group (zero: every scrape).
    static func runIntervals(order: [String], checks: [String: ComponentCheck], every: [String: Duration]) -> [String: Duration] {
        var intervals: [String: Duration] = [:]
        for group in groups(order: order, checks: checks) {
            let interval = group.map { every[$0] ?? .zero }.min() ?? .zero
            for name in group { intervals[name] = interval }
        }
        return intervals
    }

    static func runIntervals(for target: TargetSpec) -> [String: Duration] {
        guard !target.every.isEmpty else { return [:] }
        let checks = Dictionary(target.prober.checks().map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        return runIntervals(order: ComponentRunner.executionOrder(enabled: target.components, checks: checks), checks: checks, every: target.every)
    }

    /// The components in `order`, partitioned by dependency edges (in either direction).
    static func groups(order: [String], checks: [String: ComponentCheck]) -> [[String]] {
        var parent = Dictionary(uniqueKeysWithValues: order.map { ($0, $0) })
        func root(_ name: String) -> String {
            var name = name
            while let up = parent[name], up != name { name = up }
            return name
        }
        for name in order {
            for dependency in checks[name]?.dependencies ?? [] where parent[dependency] != nil {
                let (a, b) = (root(name), root(dependency))
                if a != b { parent[a] = b }
            }
        }
        var groups: [String: [String]] = [:]
        var roots: [String] = []
        for name in order {
            let r = root(name)
            if groups[r] == nil { roots.append(r) }
            groups[r, default: []].append(name)
        }
        return roots.map { groups[$0]! }
    }
}
