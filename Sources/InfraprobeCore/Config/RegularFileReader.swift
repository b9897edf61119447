import Glibc

/// Reads a file named by the configuration with a size cap, refusing anything but a regular
/// file: a FIFO would block a reload forever, `/dev/zero` or a huge file would exhaust memory.
/// The file is opened non-blocking and checked with fstat before a byte is read, and reading
/// stops one byte past the cap in case the file grows meanwhile.
public enum RegularFileReader {
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case cannotOpen(String)
        case notRegular(String)
        case tooLarge(limit: Int)
        case notUTF8

        /// Reads after "cannot read FILE: ".
        public var description: String {
            switch self {
            case .cannotOpen(let reason): reason
            case .notRegular(let kind): "it is \(kind), not a regular file"
            case .tooLarge(let limit): "it is larger than \(RegularFileReader.format(bytes: limit))"
            case .notUTF8: "it is not UTF-8 text"
            }
        }
    }

    /// The config and web-config files.
    public static let configLimit = 1 << 20
    /// Passwords and tokens (`*_file`).
    public static let secretLimit = 64 << 10
    /// Certificates and keys (PEM bundles).
    public static let certificateLimit = 1 << 20

    public static func read(_ path: String, limit: Int) throws(Failure) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw .cannotOpen(String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .cannotOpen(String(cString: strerror(errno))) }
        let type = info.st_mode & S_IFMT
        guard type == S_IFREG else { throw .notRegular(kindName(type)) }
        guard info.st_size <= limit else { throw .tooLarge(limit: limit) }
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var filled = 0
        while filled <= limit {
            let count = bytes.withUnsafeMutableBytes { buffer in
                Glibc.read(fd, buffer.baseAddress! + filled, limit + 1 - filled)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw .cannotOpen(String(cString: strerror(errno)))
            }
            if count == 0 { break }
            filled += count
        }
        guard filled <= limit else { throw .tooLarge(limit: limit) }
        bytes.removeSubrange(filled...)
        return bytes
    }

    public static func readText(_ path: String, limit: Int) throws(Failure) -> String {
        let bytes = try read(path, limit: limit)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .notUTF8 }
        return text
    }

    private static func kindName(_ type: mode_t) -> String {
        switch type {
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        default: "of an unknown type"
        }
    }

    static func format(bytes: Int) -> String {
        bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : bytes % (1 << 10) == 0 ? "\(bytes >> 10) KiB" : "\(bytes) bytes"
    }
}
