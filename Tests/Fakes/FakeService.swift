import Foundation
import InfraprobeCore

/// Faults every fake can be switched into (DESIGN §10).
public enum GeneralFault: Sendable, Equatable, CustomStringConvertible {
    case none
    /// Every port closed: connections are refused.
    case down
    /// Every port accepts connections but never reads or answers.
    case hang
    /// Answers only after this delay (past the probe deadline).
    case slow(Duration)
    /// Every request answers 500.
    case serverError
    /// Every request answers 200 with a body no parser accepts.
    case garbage

    public var description: String {
        switch self {
        case .none: "none"
        case .down: "down (port closed)"
        case .hang: "accepts but never answers"
        case .slow(let delay): "answers after \(delay)"
        case .serverError: "500 on every request"
        case .garbage: "garbage bodies"
        }
    }
}

/// A port that refuses connections: bound, never listening, so nobody else can take it.
final class ClosedPort: @unchecked Sendable {
    let fd: Int32
    let port: UInt16

    init() {
        (fd, port) = RawSocket.bind(listen: false)
    }

    deinit { close(fd) }
}

/// A port that accepts TCP connections (kernel backlog) and never reads or answers.
final class BlackHole: @unchecked Sendable {
    let fd: Int32
    let port: UInt16

    init() {
        (fd, port) = RawSocket.bind(listen: true)
    }

    deinit { close(fd) }
}

enum RawSocket {
    static func bind(listen shouldListen: Bool) -> (Int32, UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if shouldListen { _ = Glibc.listen(fd, 64) }
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, UInt16(bigEndian: bound.sin_port))
    }
}

/// The shared half of every fake: one `HTTPServer` per role (a service's ports, e.g. Tempo's
/// HTTP API and OTLP receiver), the general faults, and request counting. A concrete fake
/// supplies `route(role:request:)` and keeps its own state under a lock.
class FakeService: @unchecked Sendable {
    let roles: [String]
    private var servers: [String: HTTPServer] = [:]
    private let faultBox = Locked<GeneralFault>(.none)
    private let closedPort = ClosedPort()
    private let blackHole = BlackHole()
    let requestLog = Locked<[String]>([])
    /// Added to every answer, as network and service time would be (not a fault).
    let latency = Locked<Duration>(.zero)
    /// Extra time before answering requests whose `METHOD /path` starts with a key: one slow
    /// endpoint (a deletion the service takes long over), as network and service time would be.
    let slowRequests = Locked<[String: Duration]>([:])
    /// When set, every answer's numbers are made hostile (see `HostileAnswer`).
    let hostile = Locked<HostileAnswer?>(nil)
    /// Requests this matches are accepted and read but not answered until it is cleared: a
    /// service that hangs mid-probe (e.g. after the create, before the delete). Held at most
    /// `holdLimit`, so a test that forgets to clear it still stops.
    let holdRequests = Locked<(@Sendable (HTTPRequest) -> Bool)?>(nil)
    static let holdLimit: Duration = .seconds(30)

    /// Where this fake's handlers run: off the cooperative pool, as another process would.
    private let serviceThread: ServiceThread

    init(roles: [String]) {
        self.roles = roles
        serviceThread = ServiceThread(name: "fake-\(roles.first ?? "service")")
    }

    var fault: GeneralFault {
        get { faultBox.current }
        set { faultBox.withLock { $0 = newValue } }
    }

    func start() throws {
        for role in roles {
            try listen(role: role, port: 0)
        }
    }

    private func listen(role: String, port: UInt16) throws {
        var options = HTTPServerOptions()
        options.shutdownGrace = .zero
        let thread = serviceThread
        let server = HTTPServer(listen: ListenAddress("127.0.0.1:\(port)")!, options: options, executor: { _ in thread }) { [unowned self] request, _ in
            await self.handle(role: role, request: request)
        }
        try server.start()
        servers[role] = server
    }

    func stop() {
        servers.values.forEach { $0.stop() }
    }

    private let stoppedPorts = Locked<[String: UInt16]?>(nil)

    /// True while `takeDown()` has closed the real ports.
    var isDown: Bool { stoppedPorts.current != nil }

    /// Closes every port for real (unlike `fault = .down`, which only changes the URL handed out),
    /// so a client configured earlier sees connection refused. `bringUp()` listens on the same ports again.
    func takeDown() {
        let ports = Dictionary(uniqueKeysWithValues: servers.map { ($0.key, $0.value.port) })
        stoppedPorts.withLock { if $0 == nil { $0 = ports } }
        stop()
    }

    func bringUp() throws {
        guard let ports = stoppedPorts.current else { return }
        for (role, port) in ports { try listen(role: role, port: port) }
        stoppedPorts.withLock { $0 = nil }
    }

    /// `stop()` blocks until in-flight handlers finish: from async code, stop on a dedicated
    /// thread instead of occupying a pool thread meanwhile.
    func stopOffPool() async {
        await BlockingExecutor.shared.run { self.stop() }
    }

    /// Base URL for a role, as the current fault sees it.
    func url(_ role: String) -> String {
        switch fault {
        case .down: return "http://127.0.0.1:\(closedPort.port)"
        case .hang: return "http://127.0.0.1:\(blackHole.port)"
        default: return "http://127.0.0.1:\(servers[role]!.port)"
        }
    }

    private func handle(role: String, request: HTTPRequest) async -> HTTPResponse {
        let query = request.query.isEmpty ? "" : "?" + request.query.keys.sorted().joined(separator: "&")
        requestLog.withLock { $0.append("\(role) \(request.method) \(request.path)\(query)") }
        let heldSince = ContinuousClock.now
        while let hold = holdRequests.current, hold(request), ContinuousClock.now - heldSince < Self.holdLimit {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let latency = self.latency.current
        if latency > .zero { try? await Task.sleep(for: latency) }
        let line = "\(request.method) \(request.path)"
        if let extra = slowRequests.current.first(where: { line.hasPrefix($0.key) })?.value { try? await Task.sleep(for: extra) }
        switch fault {
        case .slow(let delay):
            try? await Task.sleep(for: delay)
        case .serverError:
            return .text(500, "internal error injected by the fake")
        case .garbage:
            return HTTPResponse(status: 200, contentType: "application/json", body: "\u{1}<<garbage{{ not json")
        default:
            break
        }
        let response = await routeAsync(role: role, request: request)
        return hostile.current.map { $0.rewrite(response) } ?? response
    }

    /// Service behaviour that has to wait (e.g. Grafana's proxy calling its datasource); by default `route`.
    func routeAsync(role: String, request: HTTPRequest) async -> HTTPResponse {
        route(role: role, request: request)
    }

    /// Service behaviour; overridden by each fake.
    func route(role: String, request: HTTPRequest) -> HTTPResponse {
        .text(404, "404 page not found")
    }
}

extension HTTPResponse {
    static func json(_ status: Int, _ value: JSONValue, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "application/json", body: String(decoding: value.serialized, as: UTF8.self), headers: headers)
    }

    static func empty(_ status: Int) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "text/plain; charset=utf-8", body: "")
    }
}

extension HTTPRequest {
    var json: JSONValue? { JSONValue.parse(body) }
    var bodyText: String { String(decoding: body, as: UTF8.self) }
}
