import Foundation

/// Runs bcrypt verifications on a few threads of its own, with a bounded queue. bcrypt is
/// meant to be slow (~70 ms of CPU at cost 10), so a stream of wrong passwords would otherwise
/// start a thread per request and take every core from the probes; past `maxWaiting` queued
/// verifications (about half a second of work at one check per core), new ones are refused at
/// once instead of waiting — each waiting one holds a connection, even after its client left.
public final class BcryptLimiter: @unchecked Sendable {
    public static let shared = BcryptLimiter()

    public let maxConcurrent: Int
    public let maxWaiting: Int
    private let condition = NSCondition()
    /// Each job computes its result and returns how to deliver it, so that a worker is counted
    /// free again before its caller resumes.
    private var queue: [@Sendable () -> @Sendable () -> Void] = []
    private var running = 0
    private var threads = 0
    private var idleThreads = 0

    public init(maxConcurrent: Int = max(1, ProcessInfo.processInfo.activeProcessorCount / 2), maxWaiting: Int = 8) {
        self.maxConcurrent = max(1, maxConcurrent)
        self.maxWaiting = max(0, maxWaiting)
    }

    /// The result of `work`, or nil when `maxConcurrent` are running and `maxWaiting` queued.
    public func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T? {
        await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
            condition.lock()
            guard running + queue.count < maxConcurrent + maxWaiting else {
                condition.unlock()
                continuation.resume(returning: nil)
                return
            }
            queue.append {
                let result = work()
                return { continuation.resume(returning: result) }
            }
            if idleThreads > 0 {
                condition.signal()
            } else if threads < maxConcurrent {
                threads += 1
                let thread = Thread { [self] in workerLoop() }
                thread.name = "infraprobe-bcrypt"
                thread.stackSize = 256 * 1024
                thread.start()
            }
            condition.unlock()
        }
    }

    /// Workers stay once started: there are at most `maxConcurrent` of them.
    private func workerLoop() {
        condition.lock()
        while true {
            if !queue.isEmpty {
                let job = queue.removeFirst()
                running += 1
                condition.unlock()
                let deliver = job()
                condition.lock()
                running -= 1
                condition.unlock()
                deliver()
                condition.lock()
                continue
            }
            idleThreads += 1
            condition.wait()
            idleThreads -= 1
        }
    }
}
