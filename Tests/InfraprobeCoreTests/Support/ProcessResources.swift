import Foundation

/// The process's own resource levels, from /proc/self: what hostile-service tests compare
/// before and after to show nothing leaked.
struct ProcessResources: CustomStringConvertible {
    /// Process-wide levels can only be compared while no other test runs in the process: a
    /// parallel run opens files and threads of its own. scripts/test runs the suites that
    /// compare them alone, with INFRAPROBE_TEST_PROCESS_ALONE=1; in a plain parallel `swift test`
    /// they still check what they own exactly (sockets to their server, executor threads).
    static let comparable = ProcessInfo.processInfo.environment["INFRAPROBE_TEST_PROCESS_ALONE"] == "1"

    let residentBytes: Int
    let threads: Int
    let openFiles: Int

    static func now() -> ProcessResources {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        func field(_ name: String) -> Int {
            for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
                let number = line.dropFirst(name.count + 1).split(separator: " ").first.flatMap { Int($0) }
                return number ?? -1
            }
            return -1
        }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
        return ProcessResources(residentBytes: field("VmRSS") * 1024, threads: field("Threads"), openFiles: files)
    }

    var description: String { "RSS \(residentBytes >> 20) MiB, \(threads) threads, \(openFiles) fds" }
}
