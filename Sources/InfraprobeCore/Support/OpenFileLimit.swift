import Foundation

/// The process's open-file limit. Every connection to the exporter and every probe takes a
/// descriptor; the soft limit is often 1024 while the hard one is far higher, so the server
/// raises it at start, as Go programs do.
public enum OpenFileLimit {
    /// The soft limit now (after `raiseSoftToHard`, the hard one); 1024 when it cannot be read.
    public static var current: UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return UInt64(limit.rlim_cur)
    }

    @discardableResult
    public static func raiseSoftToHard() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }
}
