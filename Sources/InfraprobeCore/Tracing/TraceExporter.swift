import FoundationEssentials
import Glibc
import Logging

/// Exports probe traces over OTLP/HTTP (JSON to `<endpoint>/v1/traces`) without ever making a
/// probe wait: `submit` only appends to a bounded queue (a full queue drops the new trace and
/// counts it), and one exporter task drains it in batches, each POST bounded by a timeout. A
/// failed export drops its batch (counted) and backs off, doubling up to `maxBackoff`, so a
/// dead or hanging endpoint costs one request at a time and a queue's worth of memory.
public final class TraceExporter: Sendable {
    public struct Options: Sendable {
        /// The OTLP/HTTP base URL, e.g. `http://collector:4318`; `/v1/traces` is appended.
        public var endpoint: String
        public var queueCapacity = 1000
        public var batchSize = 64
        public var exportTimeout: Duration = .seconds(5)
        public var initialBackoff: Duration = .milliseconds(500)
        public var maxBackoff: Duration = .seconds(30)

        public init(endpoint: String) { self.endpoint = endpoint }

        public var tracesURL: String { (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint) + "/v1/traces" }
    }

    /// Why a trace was not delivered: the label of `infraprobe_traces_dropped_total`.
    public enum DropReason: String, Sendable, CaseIterable {
        /// The queue was full (the endpoint is slower than probes finish, or down and backing off).
        case queueFull = "queue_full"
        /// No HTTP answer: refused, unreachable, or no answer within the export timeout.
        case sendFailed = "send_failed"
        /// An answer other than 200 with nothing rejected (or a `partialSuccess` that rejected spans).
        case rejected
    }

    private struct State {
        var queue: [ProbeTrace] = []
        var waiter: CheckedContinuation<Void, Never>?
        var stopped = false
        var loop: Task<Void, Never>?
    }

    public let options: Options
    private let client: HTTPClient
    private let metrics: SelfMetrics
    private let instanceID: String
    private let logger: Logger
    private let state = Locked(State())

    /// The exporter's own HTTP client (its own curl thread), so exports never queue behind probes.
    public init(options: Options, metrics: SelfMetrics, instanceID: String, client: HTTPClient = HTTPClient(),
                logger: Logger = Logger(label: "infraprobe")) {
        self.options = options
        self.client = client
        self.metrics = metrics
        self.instanceID = instanceID
        self.logger = logger
        metrics.enableTraceCounters(reasons: DropReason.allCases.map(\.rawValue))
    }

    /// Queues a trace for export; never waits. Returns false when it was dropped.
    @discardableResult
    public func submit(_ trace: ProbeTrace) -> Bool {
        let (accepted, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !state.stopped, state.queue.count < options.queueCapacity else { return (false, nil) }
            state.queue.append(trace)
            // Under the queue's lock, so the gauge cannot be left behind by a racing dequeue.
            metrics.recordTraceQueueLength(state.queue.count)
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        if !accepted { metrics.recordTracesDropped(reason: DropReason.queueFull.rawValue, count: 1) }
        waiter?.resume()
        return accepted
    }

    public var queued: Int { state.withLock { $0.queue.count } }

    public func start() {
        let task = Task { [self] in await run() }
        state.withLock { $0.loop = task }
    }

    /// Stops the exporter task; traces still queued are not sent.
    public func stop() {
        let (waiter, loop) = state.withLock { state -> (CheckedContinuation<Void, Never>?, Task<Void, Never>?) in
            state.stopped = true
            defer { state.waiter = nil }
            return (state.waiter, state.loop)
        }
        waiter?.resume()
        loop?.cancel()
    }

    private func run() async {
        var backoff = options.initialBackoff
        var failing = false
        while let batch = await nextBatch() {
            if let reason = await export(batch) {
                metrics.recordTracesDropped(reason: reason.rawValue, count: batch.count)
                if !failing { logger.warning("trace export failing; dropping traces and backing off", metadata: ["reason": "\(reason.rawValue)"]) }
                failing = true
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, options.maxBackoff)
            } else {
                metrics.recordTracesExported(count: batch.count)
                if failing { logger.info("trace export recovered") }
                failing = false
                backoff = options.initialBackoff
            }
        }
    }

    /// The next batch, waiting for one; nil once stopped.
    private func nextBatch() async -> [ProbeTrace]? {
        while true {
            let taken = state.withLock { state -> [ProbeTrace]?? in
                if state.stopped { return .some(nil) }
                guard !state.queue.isEmpty else { return nil }
                let count = min(options.batchSize, state.queue.count)
                let batch = Array(state.queue.prefix(count))
                state.queue.removeFirst(count)
                metrics.recordTraceQueueLength(state.queue.count)
                return .some(batch)
            }
            if let taken { return taken }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if state.stopped || !state.queue.isEmpty { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }

    /// One POST; nil when the endpoint took every span.
    private func export(_ batch: [ProbeTrace]) async -> DropReason? {
        let body = ProbeTraceEncoder.request(batch, instanceID: instanceID).serialized
        let request = HTTPClientRequest(method: "POST", url: options.tracesURL, headers: [("Content-Type", "application/json")],
                                        body: body, deadline: .after(options.exportTimeout), maxBodyBytes: 64 * 1024)
        switch await client.send(request) {
        case .failure(let error):
            logger.debug("trace export failed", metadata: ["error": "\(error)"])
            return .sendFailed
        case .response(let response):
            guard response.status == 200 else {
                logger.debug("trace export refused", metadata: ["status": "\(response.status)"])
                return .rejected
            }
            let rejected = JSONValue.parse(response.body)?["partialSuccess"]?["rejectedSpans"]
                .flatMap { $0.double ?? $0.string.flatMap(Double.init) } ?? 0
            return rejected > 0 ? .rejected : nil
        }
    }
}
