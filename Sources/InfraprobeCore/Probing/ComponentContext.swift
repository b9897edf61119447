import FoundationEssentials
import Glibc

/// What a running component check can see and record: its deadline, a step log for
/// debug output, the service facts it measured, and values shared with dependent checks.
public final class ComponentContext: Sendable {
    public let component: String
    public let deadline: Deadline
    public let target: String
    let probe: ProbeScratch
    private let started = ContinuousClock.now
    private let log = Locked(StepLog())
    /// The first failure the check recorded (`recordFailure(_:)`), for the runner's deadline timer.
    private let firstFailure = Locked<ProbeFailure?>(nil)

    /// The context of the check running in this task, for helpers that are handed no context
    /// (`withCleanup`).
    @TaskLocal static var current: ComponentContext?

    init(component: String, deadline: Deadline, target: String, probe: ProbeScratch) {
        self.component = component
        self.deadline = deadline
        self.target = target
        self.probe = probe
    }

    /// A context for a janitor's sweep: its requests are bounded and logged like a probe's.
    static func sweeping(target: String, deadline: Deadline, prober: String) -> ComponentContext {
        ComponentContext(component: "janitor", deadline: deadline, target: target,
                         probe: ProbeScratch(nonce: "", instanceID: "", prober: prober, cleanupLedger: CleanupLedger()))
    }

    /// Records a note. Callers pass already-redacted text; it is cut and its control
    /// characters escaped when rendered, not here.
    public func step(_ text: String) {
        step(ProbeStep.note(text))
    }

    /// Records one exchange as values; rendered to text only when someone asks for it.
    public func step(_ detail: ProbeStep.Detail) {
        let offset = ContinuousClock.now - started
        log.withLock { $0.append(ProbeStep(offset: offset, detail: detail)) }
    }

    public var steps: [ProbeStep] { log.withLock { $0.steps } }

    /// Said by `service_running` once the service has accepted its connection (and login):
    /// the other components start then, alongside the rest of its check.
    public func serviceReached() {
        guard component == ComponentRunner.gateComponent else { return }
        probe.gateOpening.open(.reached)
    }

    /// Records why the check failed the moment it fails, before any cleanup runs. If the deadline
    /// fires while the check is still cleaning up (or refining the failure, as ArangoDB's read-only
    /// check does), the component reports this failure instead of `timeout`; a check that finishes
    /// before the deadline reports what it throws. The first recorded failure wins.
    /// Cancellation (the deadline already answered) records nothing.
    public func recordFailure(_ error: any Error) {
        guard let failure = ComponentRunner.failure(from: error) else { return }
        firstFailure.withLock { if $0 == nil { $0 = failure } }
    }

    var recordedFailure: ProbeFailure? { firstFailure.current }

    public func fact(_ name: String, help: String, labels: [String: String] = [:], value: Double) {
        probe.facts.withLock { $0.append(ServiceFact(name: name, help: help, labels: labels, value: value)) }
    }

    /// The version string a service reported, escaped and cut to a label-sized length.
    public func reportVersion(_ version: String) {
        let shown = version.prefix(100).escapingControlCharacters
        probe.version.withLock { $0 = shown }
    }

    /// Values a check hands to the checks that depend on it (e.g. an ingested trace id).
    public var shared: SharedValues { probe.shared }

    public var nonce: String { probe.nonce }
    public var instanceID: String { probe.instanceID }
    /// The prober kind (`arangodb`), for what the cleanup ledger counts.
    public var prober: String { probe.prober }
    public var cleanupLedger: CleanupLedger { probe.cleanupLedger }
}

/// Per-probe state shared by all components of one target probe.
final class ProbeScratch: Sendable {
    let facts = Locked<[ServiceFact]>([])
    let version = Locked<String?>(nil)
    let shared = SharedValues()
    let gateOpening = GateOpening()
    let nonce: String
    let instanceID: String
    let prober: String
    let cleanupLedger: CleanupLedger

    init(nonce: String, instanceID: String, prober: String, cleanupLedger: CleanupLedger) {
        self.nonce = nonce
        self.instanceID = instanceID
        self.prober = prober
        self.cleanupLedger = cleanupLedger
    }
}

public final class SharedValues: Sendable {
    private let values = Locked<[String: any Sendable]>([:])

    public subscript<T: Sendable>(_ key: String, as type: T.Type = T.self) -> T? {
        values.withLock { $0[key] as? T }
    }

    public func set(_ key: String, _ value: any Sendable) {
        values.withLock { $0[key] = value }
    }
}
