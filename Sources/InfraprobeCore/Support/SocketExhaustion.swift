import FoundationEssentials
import Glibc

/// An errno of socket()/accept()/open() that says the process or the system ran out of
/// descriptors or memory: the failure is reported as `resource_exhausted`, never blamed on the
/// service the socket was for.
public enum SocketExhaustion: CustomStringConvertible, Sendable {
    case processDescriptors
    case systemDescriptors
    case memory

    public init?(errno: Int32) {
        switch errno {
        case EMFILE: self = .processDescriptors
        case ENFILE: self = .systemDescriptors
        case ENOBUFS, ENOMEM: self = .memory
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .processDescriptors: return "the process is at its open-file limit (EMFILE)"
        case .systemDescriptors: return "the system is at its open-file limit (ENFILE)"
        case .memory: return "no memory for socket buffers (ENOBUFS/ENOMEM)"
        }
    }
}
