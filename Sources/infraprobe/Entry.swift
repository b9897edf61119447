import ArgumentParser
import Dispatch
import InfraprobeCore

/// A synchronous `main` that runs the parsed command on the concurrency pool and waits for it.
///
/// Why not `AsyncParsableCommand`'s async `main`: on Linux an async main ends in `dispatch_main`,
/// which calls `pthread_exit` on the main thread, and that forced unwind searches the whole
/// `.eh_frame_hdr` and `.eh_frame` of our 34 MB binary, about 0.5 MiB that then stays resident in
/// an idle exporter (issue 13). Nothing here runs on the main actor, so the main thread only waits.
@main
enum Entry {
    static func main() {
        let parsed: any ParsableCommand
        do {
            parsed = try Infraprobe.parseAsRoot()
        } catch {
            Infraprobe.exit(withError: error)
        }
        guard let command = parsed as? any AsyncParsableCommand else {
            var command = parsed
            do { try command.run() } catch { Infraprobe.exit(withError: error) }
            Infraprobe.exit()
        }
        let outcome = CommandOutcome(command)
        let finished = DispatchSemaphore(value: 0)
        // Detached: `main` is on the main actor, whose queue nobody drains while the thread waits.
        Task.detached {
            await outcome.run()
            finished.signal()
        }
        finished.wait()
        if let error = outcome.error { Infraprobe.exit(withError: error) }
        Infraprobe.exit()
    }
}

/// The command handed from the main thread to the task that runs it, and the error it ended with.
/// The main thread touches it only before the task starts and after it has signalled.
private final class CommandOutcome: @unchecked Sendable {
    private var command: any AsyncParsableCommand
    private(set) var error: (any Error)?

    init(_ command: any AsyncParsableCommand) { self.command = command }

    func run() async {
        do { try await command.run() } catch { self.error = error }
    }
}
