import Glibc
import InfraprobeCore

/// The thread a fake's request handlers run on. A fake stands in for a service in another
/// process, so its answers must not queue behind the exporter's work (or, in a parallel test
/// run, every other test's) on the cooperative pool, two threads wide here: there, a fake
/// building a 27 MB list delayed every other fake's answers past their probes' deadlines.
///
/// Jobs run in the order they come. The thread exits after `idleTimeout` without work and is
/// started again by the next job, so a stopped fake leaves no thread behind.
final class ServiceThread: TaskExecutor, @unchecked Sendable {
    static let idleTimeout: Duration = .seconds(1)

    private let name: String
    private let condition = PthreadCondition()
    private var jobs: [UnownedJob] = []
    private var running = false

    init(name: String) {
        self.name = name
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        defer { condition.unlock() }
        jobs.append(job)
        if running {
            condition.signal()
        } else {
            running = true
            NativeThread.start(name: name) { [self] in run() }
        }
    }

    private func run() {
        condition.lock()
        while true {
            while jobs.isEmpty {
                if !condition.wait(timeout: Self.idleTimeout) && jobs.isEmpty {
                    running = false
                    condition.unlock()
                    return
                }
            }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            condition.lock()
        }
    }
}
