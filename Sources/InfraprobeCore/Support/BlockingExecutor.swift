import Foundation

/// Runs blocking C calls (hiredis, DNS, connect) on dedicated threads so they never stall
/// Swift's cooperative pool. Threads are reused while work keeps coming and exit after
/// idling, so a burst of hung services cannot starve other probes of threads.
public final class BlockingExecutor: @unchecked Sendable {
    public static let shared = BlockingExecutor()

    private let condition = NSCondition()
    private var queue: [@Sendable () -> Void] = []
    private var idleThreads = 0
    private var threadCount = 0
    private let idleTimeout: TimeInterval

    public init(idleTimeout: TimeInterval = 30) { self.idleTimeout = idleTimeout }

    public func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            submit { continuation.resume(returning: work()) }
        }
    }

    private func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        queue.append(job)
        if idleThreads >= queue.count {
            condition.signal()
            condition.unlock()
            return
        }
        threadCount += 1
        condition.unlock()
        let thread = Thread { [self] in workerLoop() }
        thread.name = "infraprobe-blocking"
        thread.stackSize = 512 * 1024
        thread.start()
    }

    private func workerLoop() {
        condition.lock()
        while true {
            if let job = queue.first {
                queue.removeFirst()
                condition.unlock()
                job()
                condition.lock()
                continue
            }
            idleThreads += 1
            let signalled = condition.wait(until: Date(timeIntervalSinceNow: idleTimeout))
            idleThreads -= 1
            if !signalled && queue.isEmpty {
                threadCount -= 1
                condition.unlock()
                return
            }
        }
    }
}
