import Foundation

/// Threads and open descriptors of a process, from /proc.
enum ProcessStats {
    static func threads(_ pid: pid_t) -> Int { entries("/proc/\(pid)/task") }
    static func descriptors(_ pid: pid_t) -> Int { entries("/proc/\(pid)/fd") }

    /// Open sockets, not counting those connected to `peerPort` (a probed service's pooled
    /// connections, whose number varies from probe to probe by design). Other descriptors are
    /// left out too: libdispatch opens timer and event descriptors lazily, once, for good.
    static func sockets(_ pid: pid_t, excludingPeerPort peerPort: Int) -> Int {
        guard let links = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { return -1 }
        let toPeer = socketInodes(peerPort: peerPort)
        return links.filter { link in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(link)"),
                  target.hasPrefix("socket:[") else { return false }
            return !toPeer.contains(String(target.dropFirst(8).dropLast()))
        }.count
    }

    /// The process's TCP sockets as "local-port>remote-port:state" (for failure messages).
    static func socketSummary(_ pid: pid_t) -> String {
        guard let inodes = socketInodes(of: pid), let table = readProcFile("/proc/net/tcp") else { return "" }
        var counts: [String: Int] = [:]
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 9, inodes.contains(String(fields[9])) else { continue }
            counts["\(port(fields[1]) ?? 0)>\(port(fields[2]) ?? 0):\(fields[3])", default: 0] += 1
        }
        var other: [String: Int] = [:]
        let tcpInodes = Set(table.split(separator: "\n").dropFirst().compactMap { line -> String? in
            let fields = line.split(separator: " ")
            return fields.count > 9 ? String(fields[9]) : nil
        })
        for inode in inodes where !tcpInodes.contains(inode) {
            let kind = ["tcp6", "udp", "udp6", "unix", "netlink", "raw"].first { name in
                (readProcFile("/proc/net/\(name)") ?? "").contains(" \(inode) ")
                    || (readProcFile("/proc/net/\(name)") ?? "").contains(" \(inode)\n")
            } ?? "closed-or-unknown"
            other[kind, default: 0] += 1
        }
        return (counts.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" } + other.map { "\($0.key)×\($0.value)" })
            .joined(separator: " ")
    }

    /// The process's accepted connections on its listening `port` (any state but LISTEN),
    /// from /proc/net/tcp: a client that just closed one stays here until the server has seen it.
    static func acceptedConnections(_ pid: pid_t, port: Int) -> Int {
        guard let inodes = socketInodes(of: pid), let table = readProcFile("/proc/net/tcp") else { return -1 }
        return table.split(separator: "\n").dropFirst().filter { line in
            let fields = line.split(separator: " ")
            return fields.count > 9 && inodes.contains(String(fields[9])) && fields[3] != "0A" && Self.port(fields[1]) == port
        }.count
    }

    /// The inodes of the process's sockets, from its descriptors' links.
    private static func socketInodes(of pid: pid_t) -> Set<String>? {
        guard let links = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { return nil }
        return Set(links.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)") }
            .filter { $0.hasPrefix("socket:[") }.map { String($0.dropFirst(8).dropLast()) })
    }

    /// The port of a /proc/net/tcp address field (`0100007F:1F90`).
    private static func port(_ field: Substring) -> Int? {
        field.lastIndex(of: ":").flatMap { Int(field[field.index(after: $0)...], radix: 16) }
    }

    /// Inodes of TCP sockets whose remote port is `peerPort`, from /proc/net/tcp.
    private static func socketInodes(peerPort: Int) -> Set<String> {
        guard let table = readProcFile("/proc/net/tcp") else { return [] }
        var inodes: Set<String> = []
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 9, port(fields[2]) == peerPort else { continue }
            inodes.insert(String(fields[9]))
        }
        return inodes
    }

    /// A /proc file read to its end: Foundation stops after the first page, as /proc reports size 0.
    static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            bytes += buffer.prefix(count)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func entries(_ path: String) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: path).count) ?? -1
    }

    /// Waits (bounded) until `measure` is at most `limit`; returns the last value.
    static func settle(atMost limit: Int, within: Duration, _ measure: () -> Int) -> Int {
        let end = ContinuousClock.now + within
        var value = measure()
        while value > limit && ContinuousClock.now < end {
            usleep(100_000)
            value = measure()
        }
        return value
    }
}
