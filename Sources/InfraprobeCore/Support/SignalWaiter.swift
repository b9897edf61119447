import Dispatch
import Glibc

/// Handles SIGHUP (reload) and turns the first SIGTERM/SIGINT into the end of `Termination.wait()`.
public enum SignalWaiter {
    /// A second SIGTERM/SIGINT does not cut the grace short: it only calls `onRepeat`.
    public static func install(onReload: @escaping @Sendable () -> Void, onRepeat: @escaping @Sendable () -> Void) -> Termination {
        for signalNumber in [SIGTERM, SIGINT, SIGHUP] { signal(signalNumber, SIG_IGN) }
        let queue = DispatchQueue(label: "infraprobe.signals")
        let termination = Termination()
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
        hangup.setEventHandler { onReload() }
        let stops = [SIGTERM, SIGINT].map { DispatchSource.makeSignalSource(signal: $0, queue: queue) }
        for source in stops {
            source.setEventHandler { if !termination.signal() { onRepeat() } }
        }
        for source in stops + [hangup] { source.resume() }
        // Keep the sources alive for the life of the process.
        SignalSources.keep(stops + [hangup])
        return termination
    }
}

private enum SignalSources {
    private static let held = Locked<[any DispatchSourceSignal]>([])
    static func keep(_ sources: [any DispatchSourceSignal]) { held.withLock { $0 += sources } }
}
