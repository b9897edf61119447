/// The outcome of one component check; everything the metrics and reports are built from.
public struct ComponentResult: Sendable, Equatable {
    public let component: String
    public let duration: Duration
    public let failure: ProbeFailure?
    public let steps: [ProbeStep]
    /// When the check began, from the start of the probe (checks wait for the ones they depend on).
    public var startOffset: Duration = .zero
    /// When the check began, in seconds since the Unix epoch; for a result served from the
    /// component cache, when it last really ran.
    public var lastRunAt: Double = 0
    /// True when this probe served the component's last result instead of running it
    /// (its `every` had not passed yet).
    public var servedFromCache = false

    public var ok: Bool { failure == nil }

    public init(component: String, duration: Duration, failure: ProbeFailure?, steps: [ProbeStep] = []) {
        self.component = component
        self.duration = duration
        self.failure = failure
        self.steps = steps
    }
}

/// A service fact measured during a probe (e.g. Redis used memory), exported as a gauge.
public struct ServiceFact: Sendable, Equatable {
    public let name: String
    public let help: String
    public let labels: [String: String]
    public let value: Double

    public init(name: String, help: String, labels: [String: String] = [:], value: Double) {
        self.name = name
        self.help = help
        self.labels = labels
        self.value = value
    }
}

/// Everything one probe of one target produced.
public struct TargetProbeResult: Sendable {
    public let target: String
    public let prober: String
    public let components: [ComponentResult]
    public let facts: [ServiceFact]
    public let version: String?
    public let duration: Duration
    public let startedAt: Double  // seconds since the Unix epoch
    /// The probe's trace id (32 lowercase hex digits) when probes are exported as traces.
    public var traceID: String? = nil
    /// True when this answer is an earlier probe's result, served again within the target's `min_interval`.
    public var reused = false
    /// How often each component runs at the latest (its cadence group's shortest `every`); a
    /// component missing here runs on every scrape.
    public var runIntervals: [String: Duration] = [:]

    public init(target: String, prober: String, components: [ComponentResult], facts: [ServiceFact],
                version: String?, duration: Duration, startedAt: Double) {
        self.target = target
        self.prober = prober
        self.components = components
        self.facts = facts
        self.version = version
        self.duration = duration
        self.startedAt = startedAt
    }

    public var passed: Int { components.filter(\.ok).count }
    public var success: Bool { passed == components.count }
    public var healthRatio: Double { components.isEmpty ? 0 : Double(passed) / Double(components.count) }
}
