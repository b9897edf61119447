import CMicroHTTPD
import CShims
import FoundationEssentials
import Glibc

/// Settings of the HTTP listener.
public struct HTTPServerOptions: Sendable {
    /// A connection that keeps the server waiting this long in total — for its request
    /// headers and body, to read its response, or idle between requests — is closed.
    /// Requests being handled (a probe in flight) are exempt.
    public var connectionTimeoutSeconds: UInt32 = 15
    /// Open connections at most; more wait in the listen backlog. Capped at half the
    /// process's open-file limit so a flood cannot take the descriptors probes need.
    public var connectionLimit: UInt32 = 1024
    /// Open connections per client IP at most; 0 for no per-IP limit. Off by default: a
    /// client over it is refused outright, which would also refuse a Prometheus that shares
    /// its address with the flood, whereas the connection limit lets it wait its turn.
    public var perIPConnectionLimit: UInt32 = 0
    /// When this share of the connection limit is open, connections still waiting on their
    /// client after `pressureWait` are closed, and the longest-waiting down to half the limit.
    public var pressureShare = 0.75
    public var pressureWait: Duration = .seconds(1)
    public var maxBodyBytes = 64 * 1024
    /// In-flight requests get this long to finish on shutdown before they are cancelled.
    public var shutdownGrace: Duration = .seconds(15)
    /// Then they are cancelled and get this long to end; a handler that is still running after
    /// it leaves the daemon running until the process exits.
    public var cancelGrace: Duration = .seconds(15)
    public var tls: TLSMaterial?

    public init() {}
}

/// PEM key, certificate and optional client CA, already read from disk.
public struct TLSMaterial: Sendable, Equatable {
    public var keyPEM: String
    public var certificatePEM: String
    public var clientCAPEM: String?
    /// GnuTLS priority string (e.g. minimum version).
    public var priorities: String?

    public init(keyPEM: String, certificatePEM: String, clientCAPEM: String? = nil, priorities: String? = nil) {
        self.keyPEM = keyPEM
        self.certificatePEM = certificatePEM
        self.clientCAPEM = clientCAPEM
        self.priorities = priorities
    }
}

/// Facts about the connection a request came on, for authentication decisions.
public struct ConnectionFacts: Sendable {
    public let basicAuth: (user: String, password: String)?
    /// nil without TLS; else whether the client sent a certificate, and whether it verified.
    public let clientCertificate: (present: Bool, verified: Bool)?
    /// Subject alternative names of the client certificate (DNS, e-mail, IP, URI); nil without TLS.
    public let clientSANs: [String]?

    public init(basicAuth: (user: String, password: String)?, clientCertificate: (present: Bool, verified: Bool)?,
                clientSANs: [String]? = nil) {
        self.basicAuth = basicAuth
        self.clientCertificate = clientCertificate
        self.clientSANs = clientSANs
    }
}

/// An HTTP server on libmicrohttpd. Each request is answered by an async handler: the
/// connection is suspended while the handler runs and resumed with its response, so a
/// slow probe never occupies the daemon's thread (DaemonLoop). C pointers stay inside this file and DaemonLoop.
public final class HTTPServer: @unchecked Sendable {
    public typealias Handler = @Sendable (HTTPRequest, ConnectionFacts) async -> HTTPResponse
    /// Where a request's handler task runs: an executor (a prober's event loop) for a request
    /// whose work happens there anyway, so the handler, the probe and the response skip the
    /// hops through the cooperative pool; nil for the pool.
    public typealias ExecutorChoice = @Sendable (HTTPRequest) -> (any TaskExecutor)?

    let handler: Handler
    private let executorChoice: ExecutorChoice?
    let options: HTTPServerOptions
    private let listen: ListenAddress
    /// The daemon in force and the thread that drives it.
    private var loop: DaemonLoop?
    private var pemStrings: [UnsafeMutablePointer<CChar>] = []
    /// TLS in force; `replaceTLS` changes it.
    private var tls: TLSMaterial?
    /// Daemons replaced by `replaceTLS`, finishing their connections; stopped once they have none.
    private let retired = Locked<[(loop: DaemonLoop, strings: [UnsafeMutablePointer<CChar>])]>([])
    private let daemonLock = PthreadLock()
    /// Every running daemon's loop (the one in force and retired ones), to find the one a
    /// resumed connection belongs to. Not under `daemonLock`: `replaceTLS` holds that while it
    /// waits for a loop thread, which looks here.
    private let loops = Locked<[DaemonLoop]>([])
    private let inFlight = Locked<[ObjectIdentifier: Task<Void, Never>]>([:])
    /// Responses resumed but not yet completed (still being written to their client).
    fileprivate let responding = Locked(0)
    private let stopping = Locked(false)
    let watchdog: ConnectionWatchdog
    /// The connection limit in effect (the configured one, capped by the open-file limit).
    public let connectionLimit: UInt32
    public private(set) var port: UInt16 = 0

    public init(listen: ListenAddress, options: HTTPServerOptions = HTTPServerOptions(),
                executor executorChoice: ExecutorChoice? = nil, handler: @escaping Handler) {
        self.listen = listen
        self.options = options
        self.handler = handler
        self.executorChoice = executorChoice
        self.tls = options.tls
        connectionLimit = min(options.connectionLimit, Self.descriptorBudget())
        watchdog = ConnectionWatchdog(limits: .init(
            waitLimit: .seconds(Int64(options.connectionTimeoutSeconds)), pressureWait: options.pressureWait,
            pressureThreshold: max(1, Int(Double(connectionLimit) * min(max(options.pressureShare, 0), 1))),
            lowWater: Int(connectionLimit / 2), closesPerSweep: max(16, Int(connectionLimit / 64)), connectionLimit: Int(connectionLimit)))
    }

    /// Half the soft open-file limit: the rest stays for probes, logs and config files.
    static func descriptorBudget() -> UInt32 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return .max }
        return UInt32(clamping: max(limit.rlim_cur / 2, 16))
    }

    /// One thread (`DaemonLoop`) serves every connection through epoll (never a thread per
    /// connection: a thousand slow clients would be a thousand threads; never poll(2): with
    /// 10,000 kept-alive scrape connections every wake-up polled all of them). With epoll's edge
    /// triggering, libmicrohttpd 0.9.75 misses end-of-stream that arrives with a connection's
    /// last bytes; the watchdog closes such connections once their client has hung up.
    public func start() throws {
        daemonLock.lock()
        defer { daemonLock.unlock() }
        let (started, strings) = try startDaemon(tls: tls, listenSocket: nil)
        loop = started
        pemStrings = strings
        port = cshim_mhd_bind_port(started.daemon)
        watchdog.start()
    }

    /// New TLS settings (certificate rotation, another client CA or priority string, TLS on or
    /// off) without closing the port: a new daemon takes over the listening socket, the old one
    /// stops accepting and finishes the connections it has. Throws, keeping the old settings, when
    /// the new daemon cannot start.
    public func replaceTLS(_ material: TLSMaterial?) throws {
        daemonLock.lock()
        defer { daemonLock.unlock() }
        guard let old = loop, !stopping.current else { return }
        let listenFD = cshim_mhd_listen_fd(old.daemon)
        guard listenFD >= 0 else { throw HTTPServerError(message: "cannot find the listening socket") }
        let shared = dup(listenFD)
        guard shared >= 0 else { throw HTTPServerError(message: "cannot share the listening socket: \(String(cString: strerror(errno)))") }
        let started: (DaemonLoop, [UnsafeMutablePointer<CChar>])
        do {
            started = try startDaemon(tls: material, listenSocket: shared)
        } catch {
            close(shared)
            throw error
        }
        let oldFD = old.perform { MHD_quiesce_daemon($0) }
        if oldFD >= 0 { close(oldFD) }
        retired.withLock { $0.append((old, pemStrings)) }
        loop = started.0
        pemStrings = started.1
        tls = material
        reapRetired()
    }

    /// Stops retired daemons once their last connection is gone, polling off MHD's threads.
    private func reapRetired() {
        NativeThread.start(name: "infraprobe-http-reap") { [retired, stopping, loops] in
            while !stopping.current {
                let done = retired.withLock { list -> Bool in
                    list.removeAll { entry in
                        // On the loop thread: without an internal thread, MHD counts by cleaning up.
                        guard entry.loop.perform({ cshim_mhd_connection_count($0) }) == 0 else { return false }
                        entry.loop.stop()
                        loops.withLock { $0.removeAll { $0 === entry.loop } }
                        MHD_stop_daemon(entry.loop.daemon)
                        entry.strings.forEach { free($0) }
                        return true
                    }
                    return list.isEmpty
                }
                if done { return }
                usleep(100_000)
            }
        }
    }

    private func startDaemon(tls: TLSMaterial?, listenSocket: Int32?) throws -> (DaemonLoop, [UnsafeMutablePointer<CChar>]) {
        var pemStrings: [UnsafeMutablePointer<CChar>] = []
        // No MHD_USE_INTERNAL_POLLING_THREAD: DaemonLoop drives it (see there why).
        var flags = MHD_USE_EPOLL.rawValue | MHD_ALLOW_SUSPEND_RESUME.rawValue
        let me = Unmanaged.passUnretained(self).toOpaque()
        var items: [MHD_OptionItem] = [
            MHD_OptionItem(option: .CONNECTION_TIMEOUT, value: Int(options.connectionTimeoutSeconds), ptr_value: nil),
            MHD_OptionItem(option: .CONNECTION_LIMIT, value: Int(connectionLimit), ptr_value: nil),
            MHD_OptionItem(option: .PER_IP_CONNECTION_LIMIT, value: Int(options.perIPConnectionLimit), ptr_value: nil),
            MHD_OptionItem(option: .NOTIFY_COMPLETED, value: unsafeBitCast(requestCompletedCallback, to: Int.self), ptr_value: me),
            MHD_OptionItem(option: .NOTIFY_CONNECTION, value: unsafeBitCast(connectionNotifyCallback, to: Int.self), ptr_value: me),
        ]
        if let tls {
            flags |= MHD_USE_TLS.rawValue
            let key = strdup(tls.keyPEM)!, cert = strdup(tls.certificatePEM)!
            pemStrings += [key, cert]
            items.append(MHD_OptionItem(option: .HTTPS_MEM_KEY, value: 0, ptr_value: UnsafeMutableRawPointer(key)))
            items.append(MHD_OptionItem(option: .HTTPS_MEM_CERT, value: 0, ptr_value: UnsafeMutableRawPointer(cert)))
            if let ca = tls.clientCAPEM {
                let trust = strdup(ca)!
                pemStrings.append(trust)
                items.append(MHD_OptionItem(option: .HTTPS_MEM_TRUST, value: 0, ptr_value: UnsafeMutableRawPointer(trust)))
            }
            if let priorities = tls.priorities {
                let text = strdup(priorities)!
                pemStrings.append(text)
                items.append(MHD_OptionItem(option: .HTTPS_PRIORITIES, value: 0, ptr_value: UnsafeMutableRawPointer(text)))
            }
        }
        var storage = sockaddr_storage()
        if let listenSocket {
            items.append(MHD_OptionItem(option: .LISTEN_SOCKET, value: Int(listenSocket), ptr_value: nil))
            if listen.host == nil { flags |= MHD_USE_DUAL_STACK.rawValue }
        } else if let host = listen.host {
            flags |= try Self.fillSocketAddress(&storage, host: host, port: listen.port)
            items.append(MHD_OptionItem(option: .SOCK_ADDR, value: 0, ptr_value: withUnsafeMutablePointer(to: &storage) { UnsafeMutableRawPointer($0) }))
        } else {
            flags |= MHD_USE_DUAL_STACK.rawValue
        }
        items.append(MHD_OptionItem(option: .END, value: 0, ptr_value: nil))
        let started = withExtendedLifetime(storage) {
            items.withUnsafeBufferPointer { buffer in
                cshim_mhd_start_daemon(flags, listen.port, accessHandlerCallback, me, buffer.baseAddress)
            }
        }
        guard let started else {
            pemStrings.forEach { free($0) }
            throw HTTPServerError(message: "cannot listen on \(listen) (address in use, permission denied, or bad TLS material)")
        }
        let loop: DaemonLoop
        do {
            loop = try DaemonLoop(daemon: started)
        } catch {
            MHD_stop_daemon(started)
            pemStrings.forEach { free($0) }
            throw error
        }
        loops.withLock { $0.append(loop) }
        loop.start(name: "infraprobe-http")
        return (loop, pemStrings)
    }

    private func forget(_ loop: DaemonLoop) {
        loops.withLock { $0.removeAll { $0 === loop } }
    }

    /// The loop of the daemon `connection` belongs to (called on that loop's thread).
    private func loop(of connection: OpaquePointer) -> DaemonLoop? {
        let daemon = cshim_mhd_connection_daemon(connection)
        return loops.withLock { $0.first { $0.daemon == daemon } }
    }

    private static func fillSocketAddress(_ storage: inout sockaddr_storage, host: String, port: UInt16) throws -> UInt32 {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            withUnsafeMutableBytes(of: &storage) { raw in
                let address = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self)
                address.pointee.sin_family = sa_family_t(AF_INET)
                address.pointee.sin_port = port.bigEndian
                address.pointee.sin_addr = v4
            }
            return 0
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            withUnsafeMutableBytes(of: &storage) { raw in
                let address = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self)
                address.pointee.sin6_family = sa_family_t(AF_INET6)
                address.pointee.sin6_port = port.bigEndian
                address.pointee.sin6_addr = v6
            }
            return MHD_USE_IPv6.rawValue
        }
        if host == "localhost" { return try fillSocketAddress(&storage, host: "127.0.0.1", port: port) }
        throw HTTPServerError(message: "listen address host must be an IP address, got \(host)")
    }

    /// Stops accepting, lets in-flight requests finish (up to the grace period), then stops.
    /// Blocks: call it off the cooperative pool (see `stopOffPool`), whose threads the
    /// in-flight handlers need in order to finish.
    public func stop() {
        daemonLock.lock()
        defer { daemonLock.unlock() }
        guard let loop else { return }
        stopping.withLock { $0 = true }
        let fd = loop.perform { MHD_quiesce_daemon($0) }
        if fd >= 0 { close(fd) }
        let graceEnd = ContinuousClock.now + options.shutdownGrace
        while (!inFlight.current.isEmpty || responding.current > 0) && ContinuousClock.now < graceEnd { usleep(10_000) }
        inFlight.current.values.forEach { $0.cancel() }
        // Handlers wait on probes, which end at their deadline; give cancelled ones that long.
        let cancelEnd = ContinuousClock.now + options.cancelGrace
        while !inFlight.current.isEmpty && ContinuousClock.now < cancelEnd { usleep(5_000) }
        guard inFlight.current.isEmpty else {
            // libmicrohttpd aborts the process when stopped with a connection still suspended;
            // leaving the daemon to the process's exit is the lesser harm. It calls back into
            // this object, which must therefore outlive any owner.
            _ = Unmanaged.passRetained(self)
            return
        }
        // A handler that just finished has resumed its connection, but MHD has yet to write
        // the answer; stopping now would close the connection with it unsent.
        let flushEnd = ContinuousClock.now + .seconds(2)
        while responding.current > 0 && ContinuousClock.now < flushEnd { usleep(5_000) }
        // Daemons retired by replaceTLS: their handlers are done too (inFlight spans all daemons).
        retired.withLock { list in
            for entry in list {
                entry.loop.stop()
                forget(entry.loop)
                MHD_stop_daemon(entry.loop.daemon)
                entry.strings.forEach { free($0) }
            }
            list = []
        }
        loop.stop()
        forget(loop)
        MHD_stop_daemon(loop.daemon)
        watchdog.stop()
        self.loop = nil
        pemStrings.forEach { free($0) }
        pemStrings = []
    }

    /// `stop()` on a thread of its own, so an async caller does not block a pool thread.
    public func stopOffPool() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            NativeThread.start(name: "infraprobe-http-stop") { [self] in
                stop()
                continuation.resume()
            }
        }
    }


    public var inFlightCount: Int { inFlight.current.count }

    // MARK: called from MHD's thread

    fileprivate func handle(connection: OpaquePointer, url: String, method: String,
                            upload: UnsafePointer<CChar>?, uploadSize: UnsafeMutablePointer<Int>,
                            context: RequestContext) -> MHD_Result {
        if let response = context.response {
            return Self.queue(response, on: connection)
        }
        if uploadSize.pointee > 0 {
            if context.body.count + uploadSize.pointee > options.maxBodyBytes {
                context.tooLarge = true
            } else if let upload {
                context.body.append(contentsOf: UnsafeRawBufferPointer(start: upload, count: uploadSize.pointee))
            }
            uploadSize.pointee = 0
            return .YES
        }
        if context.tooLarge {
            return Self.queue(.text(413, "request body too large"), on: connection)
        }
        if stopping.current {
            return Self.queue(.text(503, "shutting down"), on: connection)
        }
        let path = url.utf8.firstIndex(of: UInt8(ascii: "?")).map { String(url[..<$0]) } ?? url
        let request = HTTPRequest(method: method, path: path,
                                  query: Self.values(connection, kind: .GET_ARGUMENT_KIND, lowercaseKeys: false),
                                  headers: Self.values(connection, kind: .HEADER_KIND, lowercaseKeys: true),
                                  body: context.body)
        let facts = Self.connectionFacts(connection)
        let sendableConnection = ConnectionHandle(raw: connection)
        let handler = self.handler
        let key = ObjectIdentifier(context)
        let watchdogKey = Int(bitPattern: connection)
        watchdog.handling(watchdogKey)
        let loop = loop(of: connection)
        MHD_suspend_connection(connection)
        let work: @Sendable () async -> Void = { [inFlight, watchdog, responding] in
            let response = await handler(request, facts)
            context.response = Self.finalize(response, acceptEncoding: request.header("accept-encoding"))
            context.resumed = true
            responding.withLock { $0 += 1 }
            watchdog.waiting(watchdogKey)
            // Resume before leaving `inFlight`: `stop()` waits for it to be empty and then
            // stops the daemon, which aborts if a connection is still suspended.
            MHD_resume_connection(sendableConnection.raw)
            loop?.wake()
            inFlight.withLock { _ = $0.removeValue(forKey: key) }
        }
        let executor = executorChoice?(request)
        inFlight.withLock { $0[key] = Task(executorPreference: executor, operation: work) }
        return .YES
    }

    /// gzip when the client accepts it and it pays off, or when it refuses an uncompressed body.
    /// A client that refuses both still gets the uncompressed body: a 406 would only fail the scrape.
    static func finalize(_ response: HTTPResponse, acceptEncoding: String?) -> HTTPResponse {
        var response = response
        // Most scrapers that do not want gzip say `identity` or nothing: no need to parse that.
        let accept = AcceptEncoding(acceptEncoding.flatMap { AcceptEncoding.mayAcceptGzip($0) ? $0 : nil })
        if accept.acceptsGzip, response.body.count > 512 || accept.refusesIdentity, let compressed = Gzip.compress(response.body) {
            response.body = compressed
            response.headers.append(("Content-Encoding", "gzip"))
        }
        response.headers.append(("Vary", "Accept-Encoding"))
        return response
    }

    private static func queue(_ response: HTTPResponse, on connection: OpaquePointer) -> MHD_Result {
        let mhdResponse = response.body.withUnsafeBytes { raw in
            MHD_create_response_from_buffer(raw.count, UnsafeMutableRawPointer(mutating: raw.baseAddress), .RESPMEM_MUST_COPY)
        }
        guard let mhdResponse else { return .NO }
        for (name, value) in response.headers { _ = MHD_add_response_header(mhdResponse, name, value) }
        let result = MHD_queue_response(connection, UInt32(response.status), mhdResponse)
        MHD_destroy_response(mhdResponse)
        return result
    }

    private final class ValueCollector {
        var values: [String: String] = [:]
        let lowercaseKeys: Bool
        init(lowercaseKeys: Bool) { self.lowercaseKeys = lowercaseKeys }
    }

    private static func values(_ connection: OpaquePointer, kind: MHD_ValueKind, lowercaseKeys: Bool) -> [String: String] {
        let collector = ValueCollector(lowercaseKeys: lowercaseKeys)
        let iterator: MHD_KeyValueIterator = { cls, _, key, value in
            guard let cls, let key else { return .YES }
            let collector = Unmanaged<ValueCollector>.fromOpaque(cls).takeUnretainedValue()
            var name = String(cString: key)
            if collector.lowercaseKeys { name = name.lowercased() }
            if collector.values[name] == nil { collector.values[name] = value.map { String(cString: $0) } ?? "" }
            return .YES
        }
        withExtendedLifetime(collector) {
            _ = MHD_get_connection_values(connection, kind, iterator, Unmanaged.passUnretained(collector).toOpaque())
        }
        return collector.values
    }

    private static func connectionFacts(_ connection: OpaquePointer) -> ConnectionFacts {
        var basic: (String, String)?
        var password: UnsafeMutablePointer<CChar>?
        if let user = MHD_basic_auth_get_username_password(connection, &password) {
            basic = (String(cString: user), password.map { String(cString: $0) } ?? "")
            MHD_free(user)
            if let password { MHD_free(password) }
        }
        var certificate: (Bool, Bool)?
        var sans: [String]?
        var present: Int32 = 0
        let status = cshim_mhd_client_cert_verified(connection, &present)
        if status != -1 {
            certificate = (present != 0, present != 0 && status == 0)
            sans = present != 0 ? clientSANs(connection) : []
        }
        return ConnectionFacts(basicAuth: basic, clientCertificate: certificate, clientSANs: sans)
    }

    private static func clientSANs(_ connection: OpaquePointer) -> [String] {
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        let used = Int(cshim_mhd_client_cert_sans(connection, &buffer, Int32(buffer.count)))
        guard used > 0 else { return [] }
        return buffer[..<used].split(separator: 0).map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    }
}

public struct HTTPServerError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// MHD's connection pointer, sendable because `MHD_resume_connection` is thread-safe.
private struct ConnectionHandle: @unchecked Sendable { let raw: OpaquePointer }

/// Per-request state, owned by MHD's `con_cls` slot from the first call until completion.
private final class RequestContext: @unchecked Sendable {
    var body: [UInt8] = []
    var tooLarge = false
    var response: HTTPResponse?
    /// Its connection was resumed with `response`: counted in `responding` until completion.
    var resumed = false
}

private let accessHandlerCallback: MHD_AccessHandlerCallback = { cls, connection, url, method, _, upload, uploadSize, conCls in
    guard let cls, let connection, let conCls, let uploadSize else { return .NO }
    guard let existing = conCls.pointee else {
        // First call: only allocate. Answering here would make MHD close a keep-alive connection.
        conCls.pointee = Unmanaged.passRetained(RequestContext()).toOpaque()
        return .YES
    }
    let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
    let context = Unmanaged<RequestContext>.fromOpaque(existing).takeUnretainedValue()
    return server.handle(connection: connection, url: url.map { String(cString: $0) } ?? "/",
                         method: method.map { String(cString: $0) } ?? "GET",
                         upload: upload, uploadSize: uploadSize, context: context)
}

private let requestCompletedCallback: MHD_RequestCompletedCallback = { cls, connection, conCls, _ in
    let server = cls.map { Unmanaged<HTTPServer>.fromOpaque($0).takeUnretainedValue() }
    if let server, let connection { server.watchdog.waiting(Int(bitPattern: connection)) }
    guard let conCls, let existing = conCls.pointee else { return }
    let context = Unmanaged<RequestContext>.fromOpaque(existing)
    if context.takeUnretainedValue().resumed { server?.responding.withLock { $0 -= 1 } }
    context.release()
    conCls.pointee = nil
}

private let connectionNotifyCallback: MHD_NotifyConnectionCallback = { cls, connection, _, code in
    guard let cls, let connection else { return }
    let watchdog = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue().watchdog
    switch code {
    case .CONNECTION_NOTIFY_STARTED: watchdog.opened(Int(bitPattern: connection), fd: cshim_mhd_connection_fd(connection))
    case .CONNECTION_NOTIFY_CLOSED: watchdog.closed(Int(bitPattern: connection))
    default: break
    }
}
