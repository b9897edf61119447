import FoundationEssentials
import Glibc

/// A service kind's functional test: a set of component checks the runner executes
/// concurrently under one deadline. One conforming type per file in `Probers/`.
public protocol Prober: Sendable {
    func checks() -> [ComponentCheck]
    /// Where the probe's component tasks (and its orchestration) run: the event loop that
    /// drives the prober's sockets, so a component is resumed where its reply was read with no
    /// hand-off between threads. Nil: the global concurrent executor. Nothing that blocks may
    /// run on it.
    var executorPreference: (any TaskExecutor)? { get }
}

extension Prober {
    public var executorPreference: (any TaskExecutor)? { nil }
}

/// One named component check. `dependencies` name checks whose success this one needs
/// (their shared values are read through `ComponentContext.shared`), so a check and its
/// dependencies always run in the same probe (`ComponentCadence`).
public struct ComponentCheck: Sendable {
    public let name: String
    public let dependencies: [String]
    public let run: @Sendable (ComponentContext) async throws -> Void

    public init(_ name: String, dependsOn dependencies: [String] = [],
                run: @escaping @Sendable (ComponentContext) async throws -> Void) {
        self.name = name
        self.dependencies = dependencies
        self.run = run
    }
}

/// How a prober kind is named, which components it has, and how it is built from config.
public struct ProberDescriptor: Sendable {
    public let kind: String
    public let componentNames: [String]
    /// The config key that `/probe?module=M&target=ADDR` fills with ADDR.
    public let addressKey: String
    /// Whether that address is a URL, so a module target may carry an http(s) scheme.
    public let addressIsURL: Bool
    /// True for kinds that probe through other configured targets (pipeline): they have no
    /// address of their own, so a module cannot hand them one.
    public let followsOtherTargets: Bool
    /// How often each component runs when the config does not say (`components: {NAME: {every: …}}`);
    /// a component not listed runs on every scrape. Heavy checks run less often so that, out of the
    /// box, a scrape is cheap for the service (docs/probers.md, Cadence).
    public let defaultEvery: [String: Duration]
    public let make: @Sendable (ConfigSection, ProberEnvironment) throws -> any Prober

    public init(kind: String, componentNames: [String], addressKey: String, addressIsURL: Bool = true, followsOtherTargets: Bool = false,
                defaultEvery: [String: Duration] = [:],
                make: @escaping @Sendable (ConfigSection, ProberEnvironment) throws -> any Prober) {
        self.kind = kind
        self.componentNames = componentNames
        self.addressKey = addressKey
        self.addressIsURL = addressIsURL
        self.followsOtherTargets = followsOtherTargets
        self.defaultEvery = defaultEvery
        self.make = make
    }
}

/// Shared, long-lived things probers use: the namespace for what they create, threads for blocking calls.
public final class ProberEnvironment: Sendable {
    /// Unique per process: `infraprobe/<instance-id>/<nonce>` namespaces never collide between exporters.
    public let instanceID: String
    public let executor: BlockingExecutor
    /// One libcurl multi loop for every HTTP prober: connections are reused across probes.
    public let http: HTTPClient
    /// Redis connections by address and login, for named and module targets alike (on the
    /// shared Redis event loop).
    public let redisPools: RedisPools
    /// Removals that did not finish by their probe's deadline, retried in the background.
    public let cleanupLedger: CleanupLedger

    public init(instanceID: String = ProberEnvironment.makeInstanceID(), executor: BlockingExecutor = .shared,
                http: HTTPClient = .shared, redisPools: RedisPools? = nil, cleanupLedger: CleanupLedger = CleanupLedger()) {
        self.instanceID = instanceID
        self.executor = executor
        self.http = http
        self.redisPools = redisPools ?? RedisPools(resolver: executor)
        self.cleanupLedger = cleanupLedger
    }

    public static func makeInstanceID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        // ASCII only: Consul 1.21.5 rejects KV keys with other characters.
        let safeHost = String(host.map { $0.isASCII && ($0.isLetter || $0.isNumber) || $0 == "-" ? $0 : "-" }.prefix(32))
        return "\(safeHost)-\(getpid())"
    }

    /// A fresh token for one probe's keys/objects; it carries the probe's start time, so a
    /// sweeper can tell an abandoned object from one a running probe still owns.
    public func nonce() -> String {
        ProbeNonce.make().text
    }
}

/// The probers this build knows.
public struct ProberRegistry: Sendable {
    public let descriptors: [String: ProberDescriptor]

    public init(_ descriptors: [ProberDescriptor]) {
        self.descriptors = Dictionary(uniqueKeysWithValues: descriptors.map { ($0.kind, $0) })
    }

    public static let standard = ProberRegistry([
        RedisProber.descriptor, ConsulProber.descriptor, ArangoDBProber.descriptor, TempoProber.descriptor, GrafanaProber.descriptor,
        OTelCollectorProber.descriptor, PipelineProber.descriptor,

    ])

    public var kinds: [String] { descriptors.keys.sorted() }
}
