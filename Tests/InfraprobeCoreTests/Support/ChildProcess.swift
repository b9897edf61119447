import CShims
import Foundation

/// A server process a test starts (redis-server, the infraprobe binary) that dies with the test
/// process, however that ends — `kill -9` included — so a killed run leaves nothing behind.
/// The kernel sends the child SIGKILL when the thread that forked it exits (PR_SET_PDEATHSIG),
/// so every child is forked by one thread that lives as long as the process.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    private let state = NSLock()
    private var exitStatus: Int32?

    /// Marks every child in its environment, so a test can find the processes a run started.
    static let markerVariable = "INFRAPROBE_TEST_CHILD_OF"

    private init(pid: pid_t) { self.pid = pid }

    /// Starts `path` with stdout and stderr going to `output` (or /dev/null).
    static func spawn(_ path: String, _ arguments: [String], output: FileHandle? = nil,
                      environment extra: [String: String] = [:]) throws -> ChildProcess {
        var environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        environment[markerVariable] = "\(getpid())"
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(devNull) }
        let out = output?.fileDescriptor ?? devNull
        let (pid, error) = Spawner.shared.perform {
            let pid = cshim_spawn_dying_with_parent(path, argv, envp, devNull, out, out)
            return (pid, errno)
        }
        guard pid > 0 else { throw TestFailure("cannot start \(path): errno \(error)") }
        return ChildProcess(pid: pid)
    }

    func signal(_ number: Int32) {
        state.lock()
        defer { state.unlock() }
        if exitStatus == nil { kill(pid, number) }
    }

    /// The exit status (or 128 + signal) once the child has exited; reaps it.
    var status: Int32? {
        state.lock()
        defer { state.unlock() }
        if exitStatus == nil { reap(flags: WNOHANG) }
        return exitStatus
    }

    var isRunning: Bool { status == nil }

    /// Waits for the child to exit and returns its status.
    @discardableResult
    func wait() -> Int32 {
        state.lock()
        defer { state.unlock() }
        while exitStatus == nil { reap(flags: 0) }
        return exitStatus!
    }

    /// SIGKILL and reap: for a child that has no shutdown worth waiting for.
    func killAndWait() {
        signal(SIGKILL)
        wait()
    }

    private func reap(flags: Int32) {
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, flags)
        if result == pid {
            let signalNumber = raw & 0x7f
            exitStatus = signalNumber == 0 ? (raw >> 8) & 0xff : 128 + signalNumber
        } else if result < 0 && errno != EINTR {
            exitStatus = -1
        }
    }

    deinit {
        if exitStatus == nil {
            kill(pid, SIGKILL)
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) == -1 && errno == EINTR {}
        }
    }

    /// The one thread that forks every child; it never exits, so children live until the
    /// process dies (or they are stopped).
    private final class Spawner: @unchecked Sendable {
        static let shared = Spawner()
        private let condition = NSCondition()
        private var jobs: [() -> Void] = []

        private init() {
            let thread = Thread { [self] in
                while true {
                    condition.lock()
                    while jobs.isEmpty { condition.wait() }
                    let job = jobs.removeFirst()
                    condition.unlock()
                    job()
                }
            }
            thread.name = "infraprobe-test-spawner"
            thread.start()
        }

        func perform<T>(_ work: @escaping () -> T) -> T {
            var result: T?
            let done = DispatchSemaphore(value: 0)
            condition.lock()
            jobs.append { result = work(); done.signal() }
            condition.signal()
            condition.unlock()
            done.wait()
            return result!
        }
    }
}
