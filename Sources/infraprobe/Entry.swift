import Dispatch
import Glibc
import InfraprobeCore

/// Reads the command line, runs the command it names on the concurrency pool, and exits with
/// its status.
///
/// Synchronous, not an async `main`: on Linux an async main ends in `dispatch_main`, which calls
/// `pthread_exit` on the main thread, and that forced unwind searches the whole `.eh_frame_hdr`
/// and `.eh_frame` of our 34 MB binary, about 0.5 MiB that then stays resident in an idle
/// exporter (issue 13). Nothing here runs on the main actor, so the main thread only waits.
@main
enum Entry {
    static func main() {
        let invocation: Invocation
        do {
            invocation = try Invocation.parse(Array(CommandLine.arguments.dropFirst()))
        } catch {
            StandardError.write("Error: \(error.message)\nUsage: \(Invocation.usage(of: error.command))\n"
                + "  See 'infraprobe \(error.command) --help' for more information.\n")
            exit(64)
        }
        switch invocation {
        case .help(let text):
            print(text, terminator: "")
            exit(0)
        case .version:
            print(Invocation.versionText)
            exit(0)
        case .serve(let options):
            end(waitFor { await ServeCommand.run(options) })
        case .check(let options):
            end(waitFor { await CheckCommand.run(options) })
        }
    }

    /// Ends the process without `exit`'s destructors, as Go's `os.Exit` does: the other threads
    /// (the Redis and HTTP loops, a libcurl load still in `dlopen`) run on until the process is
    /// gone, and destructors racing them crashed one `--config.check` in about 150 under load.
    /// Standard output is flushed first; logs go to stderr unbuffered.
    private static func end(_ status: Int32) -> Never {
        fflush(nil)
        _exit(status)
    }

    /// Runs `command` in a task and blocks the main thread until it returns. Detached: `main` is
    /// on the main actor, whose queue nobody drains while the thread waits.
    private static func waitFor(_ command: @escaping @Sendable () async -> Int32) -> Int32 {
        let status = Locked<Int32>(0)
        let finished = DispatchSemaphore(value: 0)
        Task.detached {
            let code = await command()
            status.withLock { $0 = code }
            finished.signal()
        }
        finished.wait()
        return status.withLock { $0 }
    }
}
