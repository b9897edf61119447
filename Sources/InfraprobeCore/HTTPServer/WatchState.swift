/// The connections `ConnectionWatchdog` tracks, with the waiting ones in a list in the order
/// they started waiting (oldest first), so the oldest is found, and any one moved, in O(1).
/// The list is linked through the entries by key; not thread-safe (the watchdog locks it).
struct WatchState {
    enum Phase {
        case waiting
        case handling
        /// Shut down; MHD has yet to notice and close it.
        case closing
    }

    private struct Entry {
        let fd: Int32
        var phase: Phase
        var since: ContinuousClock.Instant
        /// The client hung up (EPOLLRDHUP); closed as soon as the connection waits on it.
        var hungUp = false
        var older: Int?
        var newer: Int?
    }

    private var entries: [Int: Entry] = [:]
    private var keyByFD: [Int32: Int] = [:]
    private var oldest: Int?
    private var newest: Int?
    /// Waiting connections whose client hung up, for the next sweep.
    private var hungUpWaiting: [Int] = []

    var openCount: Int { entries.count }

    mutating func open(_ key: Int, fd: Int32, now: ContinuousClock.Instant) {
        _ = close(key)
        entries[key] = Entry(fd: fd, phase: .waiting, since: now)
        keyByFD[fd] = key
        append(key)
    }

    mutating func handling(_ key: Int) {
        guard entries[key]?.phase == .waiting else { return }
        unlink(key)
        entries[key]?.phase = .handling
    }

    mutating func waiting(_ key: Int, now: ContinuousClock.Instant) {
        guard let entry = entries[key], entry.phase != .closing else { return }
        if entry.phase == .waiting { unlink(key) }
        entries[key]?.phase = .waiting
        entries[key]?.since = now
        append(key)
        if entry.hungUp { hungUpWaiting.append(key) }
    }

    /// Forgets the connection; returns its descriptor.
    mutating func close(_ key: Int) -> Int32? {
        guard let entry = entries[key] else { return nil }
        if entry.phase == .waiting { unlink(key) }
        entries[key] = nil
        if keyByFD[entry.fd] == key { keyByFD[entry.fd] = nil }
        return entry.fd
    }

    mutating func hungUp(fd: Int32) {
        guard let key = keyByFD[fd], let entry = entries[key] else { return }
        entries[key]?.hungUp = true
        if entry.phase == .waiting { hungUpWaiting.append(key) }
    }

    /// Up to `limit` of the waiting connections whose client hung up, now closing; their
    /// descriptors. The rest stay for the next call.
    mutating func takeHungUpWaiting(atMost limit: Int) -> [Int32] {
        var fds: [Int32] = []
        while fds.count < limit, let key = hungUpWaiting.popLast() {
            guard let entry = entries[key], entry.phase == .waiting, entry.hungUp else { continue }
            unlink(key)
            entries[key]?.phase = .closing
            fds.append(entry.fd)
        }
        return fds
    }

    var oldestWaiting: (fd: Int32, since: ContinuousClock.Instant)? {
        oldest.flatMap { entries[$0] }.map { ($0.fd, $0.since) }
    }

    /// Marks the oldest waiting connection closing (the caller shuts it down).
    mutating func closeOldestWaiting() {
        guard let key = oldest else { return }
        unlink(key)
        entries[key]?.phase = .closing
    }

    private mutating func append(_ key: Int) {
        entries[key]?.older = newest
        entries[key]?.newer = nil
        if let newest { entries[newest]?.newer = key } else { oldest = key }
        newest = key
    }

    private mutating func unlink(_ key: Int) {
        guard let entry = entries[key], entry.older != nil || entry.newer != nil || oldest == key else { return }
        if let older = entry.older { entries[older]?.newer = entry.newer } else { oldest = entry.newer }
        if let newer = entry.newer { entries[newer]?.older = entry.older } else { newest = entry.older }
        entries[key]?.older = nil
        entries[key]?.newer = nil
    }
}
