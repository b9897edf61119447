import CCurl
import CShims
import FoundationEssentials
import Glibc

/// TLS settings of an HTTP target (`tls:` in the config).
public struct HTTPTLSOptions: Sendable, Equatable {
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?
    public var insecureSkipVerify = false

    public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil, insecureSkipVerify: Bool = false) {
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.insecureSkipVerify = insecureSkipVerify
    }
}

/// How a request authenticates. Secrets stay in `Secret` so they never print.
public enum HTTPAuth: Sendable, Equatable {
    case none
    case basic(username: String, password: Secret)
    case bearer(Secret)
    /// A service-specific header such as `X-Consul-Token`.
    case header(name: String, value: Secret)
}

public struct HTTPClientRequest: Sendable {
    public var method: String
    public var url: String
    /// Extra request headers (never secrets: those go through `auth`).
    public var headers: [(String, String)]
    public var body: [UInt8]?
    public var auth: HTTPAuth
    public var tls: HTTPTLSOptions
    /// The request must be over by then; curl's TIMEOUT_MS/CONNECTTIMEOUT_MS come from it.
    public var deadline: Deadline
    /// Bodies longer than this, counted after content decoding (so a gzip bomb is caught
    /// too), abort the transfer.
    public var maxBodyBytes: Int
    /// Response headers (status line included) longer than this in total abort the transfer.
    public var maxHeaderBytes: Int
    /// Response headers to hand back (by name, case-insensitive); others are not kept.
    public var responseHeaders: [String] = []
    /// When set, the whole (decoded) body streams through it and `maxBodyBytes` bounds the
    /// streamed total; the response keeps only its first `HTTPBodyConsumer.keptBytes` (for
    /// error texts), so a large answer is read in bounded memory.
    public var bodyConsumer: (any HTTPBodyConsumer)?

    public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
                auth: HTTPAuth = .none, tls: HTTPTLSOptions = HTTPTLSOptions(), deadline: Deadline,
                maxBodyBytes: Int = 4 * 1024 * 1024, maxHeaderBytes: Int = 64 * 1024) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.auth = auth
        self.tls = tls
        self.deadline = deadline
        self.maxBodyBytes = maxBodyBytes
        self.maxHeaderBytes = maxHeaderBytes
    }
}

public struct HTTPClientResponse: Sendable {
    public let status: Int
    public let contentType: String?
    public let body: [UInt8]
    public let totalTime: Duration
    /// New connections this transfer had to open (0 when curl reused a cached one).
    public let newConnections: Int
    /// Where a 3xx points (the `Location`, resolved against the request URL); never followed.
    public var redirectURL: String? = nil
    /// The request's `responseHeaders` that were present, keyed by the requested name.
    public var headers: [String: String] = [:]

    public init(status: Int, contentType: String?, body: [UInt8], totalTime: Duration = .zero, newConnections: Int = 0,
                redirectURL: String? = nil, headers: [String: String] = [:]) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.totalTime = totalTime
        self.newConnections = newConnections
        self.redirectURL = redirectURL
        self.headers = headers
    }

    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// A transfer that produced no HTTP answer, with the closed-set reason it maps to.
public struct HTTPTransportError: Error, Sendable, CustomStringConvertible {
    public let curlCode: Int
    public let reason: FailureReason
    public let message: String

    public init(curlCode: Int, reason: FailureReason, message: String) {
        self.curlCode = curlCode
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(message) (curl \(curlCode))" }
}

public enum HTTPClientResult: Sendable {
    case response(HTTPClientResponse)
    case failure(HTTPTransportError)

    public func get() throws -> HTTPClientResponse {
        switch self {
        case .response(let response): return response
        case .failure(let error): throw ProbeFailure(error.reason, error.message)
        }
    }
}

/// An HTTP client over one libcurl multi handle owned by one event-loop thread. Any number of
/// transfers run concurrently; connections are reused across probes because the multi handle
/// (and its connection cache) lives as long as the client. Only `curl_multi_wakeup` is called
/// from other threads; everything else touching curl handles runs on the loop thread.
///
/// Descriptors stay bounded: at most `maxCachedConnections` idle connections are kept, one idle
/// longer than `idleConnectionTimeout` is not reused (closed at the next transfer), and once no
/// transfer has run for that long the whole cache is closed, so an idle exporter holds none.
/// Other threads wake the loop through its own eventfd, never through the multi handle, so the
/// loop may replace that handle (which is how the cache is closed).
public final class HTTPClient: @unchecked Sendable {
    /// The process-wide client (one event-loop thread).
    public static let shared = HTTPClient()
    /// Longer than Prometheus' usual 15 s–1 min scrape interval, so a target scraped
    /// regularly keeps its connection.
    public static let defaultIdleConnectionTimeout: Duration = .seconds(75)
    public static let maxCachedConnections = 256

    /// libcurl, opened (CShims/curl.c: it is not linked, so an exporter without HTTP targets never
    /// loads it and its ~28 libraries) and globally initialised on the first request; nil once it
    /// is, else the failure every request gets, said once on stderr too.
    private static let libraryFailure: HTTPTransportError? = {
        guard cshim_curl_load() == 0 else {
            let message = String(cString: cshim_curl_load_error())
            StandardError.write("infraprobe: \(message)\n")
            return HTTPTransportError(curlCode: Int(CURLE_FAILED_INIT.rawValue), reason: .resourceExhausted, message: message)
        }
        _ = cshim_curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        return nil
    }()

    /// Made by the loop thread before its first turn (by init for a responder); loop thread only.
    private var multi: UnsafeMutableRawPointer!
    private let idleConnectionTimeout: Duration
    private let wakeFD: Int32
    private let pending = Locked<[Transfer]>([])
    private let cancelled = Locked<[UInt64]>([])
    private let nextID = Locked<UInt64>(0)
    private var active: [UInt64: (easy: UnsafeMutableRawPointer, transfer: Transfer)] = [:]  // loop thread only
    private let responder: Responder?
    /// The loop thread, curl's global init and the multi handle wait for the first request: an
    /// exporter probing only Redis never pays for them (curl_global_init alone sets up TLS).
    private let loopStarted = Locked(false)

    public init(idleConnectionTimeout: Duration = defaultIdleConnectionTimeout) {
        self.idleConnectionTimeout = idleConnectionTimeout
        wakeFD = cshim_eventfd()
        precondition(wakeFD >= 0, "eventfd: \(String(cString: strerror(errno)))")
        responder = nil
    }

    /// Opens libcurl on a background thread now (once per process) instead of in the first
    /// request: called when a target that speaks HTTP is configured, so its first probe does not
    /// spend the ~7 ms of loading curl and its libraries inside its deadline. An exporter with no
    /// such target never loads it.
    public func prepare() {
        guard responder == nil else { return }
        _ = Self.preparation
    }

    private static let preparation: Void = {
        NativeThread.start(name: "curl-load") { _ = HTTPClient.libraryFailure }
    }()

    private func startLoopOnce() {
        let first = loopStarted.withLock { started -> Bool in
            defer { started = true }
            return !started
        }
        guard first else { return }
        NativeThread.start(name: "curl-multi") { [self] in
            multi = Self.makeMulti()
            loop()
        }
    }

    /// Answers every request in-process, without curl or a network: the fuzz harnesses (fuzz/)
    /// feed the probers' answer handling through it thousands of times a second.
    @_spi(Fuzzing) public typealias Responder = @Sendable (HTTPClientRequest) async -> HTTPClientResult

    @_spi(Fuzzing) public init(responder: @escaping Responder) {
        if let failure = Self.libraryFailure { preconditionFailure(failure.message) }
        multi = Self.makeMulti()
        idleConnectionTimeout = Self.defaultIdleConnectionTimeout
        wakeFD = -1
        self.responder = responder
    }

    private static func makeMulti() -> UnsafeMutableRawPointer {
        let multi = cshim_curl_multi_init()!
        _ = cshim_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, maxCachedConnections)
        return multi
    }

    private func wake() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(wakeFD, $0.baseAddress, 8) }
    }

    /// Sends a request and waits for its answer, a transport failure, or its deadline.
    public func send(_ request: HTTPClientRequest) async -> HTTPClientResult {
        if let responder { return Self.streamed(await responder(request), through: request) }
        if let failure = Self.libraryFailure { return .failure(failure) }
        startLoopOnce()
        let id = nextID.withLock { value -> UInt64 in value += 1; return value }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<HTTPClientResult, Never>) in
                let transfer = Transfer(id: id, request: request, continuation: continuation)
                pending.withLock { $0.append(transfer) }
                wake()
            }
        } onCancel: {
            cancelled.withLock { $0.append(id) }
            wake()
        }
    }

    /// A scripted answer to a request with a body consumer, treated as a transfer would treat
    /// it: the consumer gets the body (within the size limit) and the response keeps only its head.
    private static func streamed(_ result: HTTPClientResult, through request: HTTPClientRequest) -> HTTPClientResult {
        guard case .response(let response) = result, let consumer = request.bodyConsumer else { return result }
        guard response.body.count <= request.maxBodyBytes else {
            return .failure(HTTPTransportError(curlCode: 23, reason: .unexpectedResponse,
                                               message: "response body larger than \(request.maxBodyBytes) bytes (after decoding)"))
        }
        response.body.withUnsafeBytes { consumer.consume($0) }
        var kept = HTTPClientResponse(status: response.status, contentType: response.contentType,
                                      body: Array(response.body.prefix(HTTPBodyConsumerLimits.keptBytes)), totalTime: response.totalTime,
                                      newConnections: response.newConnections, redirectURL: response.redirectURL)
        kept.headers = response.headers
        return .response(kept)
    }

    // MARK: loop thread

    private func loop() {
        var running: Int32 = 0
        var idleSince = ContinuousClock.now
        var cacheMayHoldConnections = false
        var wakeWait = curl_waitfd(fd: wakeFD, events: Int16(CURL_WAIT_POLLIN), revents: 0)
        while true {
            for transfer in pending.withLock({ queue -> [Transfer] in defer { queue = [] }; return queue }) {
                start(transfer)
            }
            for id in cancelled.withLock({ ids -> [UInt64] in defer { ids = [] }; return ids }) {
                guard let entry = active[id] else { continue }
                finish(entry.easy, entry.transfer, .failure(HTTPTransportError(
                    curlCode: Int(CURLE_OPERATION_TIMEDOUT.rawValue), reason: .timeout, message: "request cancelled at the probe deadline")))
            }
            cshim_curl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let message = cshim_curl_multi_info_read(multi, &left) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                let code = message.pointee.data.result
                var privatePointer: UnsafeMutableRawPointer?
                _ = cshim_easy_getinfo_pointer(easy, CURLINFO_PRIVATE, &privatePointer)
                guard let privatePointer else { continue }
                let transfer = Unmanaged<Transfer>.fromOpaque(privatePointer).takeUnretainedValue()
                finish(easy, transfer, result(of: easy, transfer: transfer, code: code))
                cacheMayHoldConnections = true
            }
            if !active.isEmpty {
                idleSince = .now
            } else if cacheMayHoldConnections && ContinuousClock.now - idleSince >= idleConnectionTimeout {
                // curl closes idle connections only when a new transfer connects; with none
                // coming, a fresh multi handle is the only way to let go of the cached ones.
                cshim_curl_multi_cleanup(multi)
                multi = Self.makeMulti()
                cacheMayHoldConnections = false
            }
            wakeWait.revents = 0
            cshim_curl_multi_poll(multi, &wakeWait, 1, 1000, nil)
            if wakeWait.revents != 0 {
                var count: UInt64 = 0
                _ = withUnsafeMutableBytes(of: &count) { read(wakeFD, $0.baseAddress, 8) }
            }
        }
    }

    private func start(_ transfer: Transfer) {
        let request = transfer.request
        let remainingMS = max(1, Int(request.deadline.remaining.milliseconds))
        guard let easy = cshim_curl_easy_init() else {
            transfer.continuation.resume(returning: .failure(HTTPTransportError(curlCode: 2, reason: .resourceExhausted, message: "curl_easy_init failed (out of memory)")))
            return
        }
        let me = Unmanaged.passRetained(transfer).toOpaque()
        _ = cshim_easy_setopt_string(easy, CURLOPT_URL, request.url)
        _ = cshim_easy_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = cshim_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        _ = cshim_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, remainingMS)
        _ = cshim_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, remainingMS)
        _ = cshim_easy_setopt_pointer(easy, CURLOPT_PRIVATE, me)
        _ = cshim_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, me)
        _ = cshim_easy_setopt_write_callback(easy, CURLOPT_WRITEFUNCTION, curlWriteCallback)
        _ = cshim_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, me)
        _ = cshim_easy_setopt_write_callback(easy, CURLOPT_HEADERFUNCTION, curlHeaderCallback)
        // A redirect is an answer like any other (the prober checks its status): never followed,
        // so credentials never go to a host the configuration did not name.
        _ = cshim_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0)
        _ = cshim_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, transfer.errorBuffer)
        _ = cshim_easy_setopt_string(easy, CURLOPT_ACCEPT_ENCODING, "")
        _ = cshim_easy_setopt_string(easy, CURLOPT_USERAGENT, "infraprobe")
        _ = cshim_easy_setopt_long(easy, CURLOPT_MAXAGE_CONN, max(1, Int(idleConnectionTimeout.components.seconds)))
        _ = cshim_easy_record_socket_errno(easy, transfer.socketErrno)

        switch request.method {
        case "GET": break
        case "HEAD": _ = cshim_easy_setopt_long(easy, CURLOPT_NOBODY, 1)
        default: _ = cshim_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, request.method)
        }
        if request.body != nil || ["POST", "PUT", "PATCH"].contains(request.method) {
            let bytes = request.body ?? []
            let buffer = malloc(max(1, bytes.count))!
            bytes.withUnsafeBytes { raw in if let base = raw.baseAddress { buffer.copyMemory(from: base, byteCount: bytes.count) } }
            transfer.bodyBuffer = buffer
            _ = cshim_easy_setopt_long(easy, CURLOPT_POSTFIELDSIZE, bytes.count)
            _ = cshim_easy_setopt_pointer(easy, CURLOPT_POSTFIELDS, buffer)
        }

        var headers = request.headers.map { "\($0.0): \($0.1)" }
        headers.append("Expect:")
        switch request.auth {
        case .none: break
        case .basic(let username, let password):
            _ = cshim_easy_setopt_long(easy, CURLOPT_HTTPAUTH, Int(cshim_CURLAUTH_BASIC))
            _ = cshim_easy_setopt_string(easy, CURLOPT_USERNAME, username)
            _ = cshim_easy_setopt_string(easy, CURLOPT_PASSWORD, password.value)
        case .bearer(let token):
            headers.append("Authorization: Bearer \(token.value)")
        case .header(let name, let value):
            headers.append("\(name): \(value.value)")
        }
        for header in headers { transfer.headerList = cshim_curl_slist_append(transfer.headerList, header) }
        _ = cshim_easy_setopt_pointer(easy, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(transfer.headerList))

        let tls = request.tls
        if let ca = tls.caFile { _ = cshim_easy_setopt_string(easy, CURLOPT_CAINFO, ca) }
        if let cert = tls.certFile { _ = cshim_easy_setopt_string(easy, CURLOPT_SSLCERT, cert) }
        if let key = tls.keyFile { _ = cshim_easy_setopt_string(easy, CURLOPT_SSLKEY, key) }
        if tls.insecureSkipVerify {
            _ = cshim_easy_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, 0)
            _ = cshim_easy_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, 0)
        }
        active[transfer.id] = (easy, transfer)
        cshim_curl_multi_add_handle(multi, easy)
    }

    private func result(of easy: UnsafeMutableRawPointer, transfer: Transfer, code: CURLcode) -> HTTPClientResult {
        guard code == CURLE_OK else {
            let detail = String(cString: transfer.errorBuffer)
            let text = detail.isEmpty ? String(cString: cshim_curl_easy_strerror(code)) : detail
            // What no real service sends is the service's fault: unexpected_response, like a body that does not parse.
            if transfer.overflow {
                return .failure(HTTPTransportError(curlCode: Int(code.rawValue), reason: .unexpectedResponse,
                                                   message: "response body larger than \(transfer.request.maxBodyBytes) bytes (after decoding)"))
            }
            if transfer.headerOverflow {
                return .failure(HTTPTransportError(curlCode: Int(code.rawValue), reason: .unexpectedResponse,
                                                   message: "response headers larger than \(transfer.request.maxHeaderBytes) bytes"))
            }
            // Out of descriptors or socket buffers is this process's trouble, not the service's:
            // curl says only "could not connect", as for a refused connection.
            if let exhausted = SocketExhaustion(errno: transfer.socketErrno.pointee) {
                return .failure(HTTPTransportError(curlCode: Int(code.rawValue), reason: .resourceExhausted,
                                                   message: "cannot open a socket: \(exhausted) (\(text.escapingControlCharacters))"))
            }
            return .failure(HTTPTransportError(curlCode: Int(code.rawValue), reason: Self.reason(forCurlCode: Int(code.rawValue)),
                                               message: text.escapingControlCharacters))
        }
        var status = 0
        _ = cshim_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        var total = 0.0
        _ = cshim_easy_getinfo_double(easy, CURLINFO_TOTAL_TIME, &total)
        var typePointer: UnsafeMutableRawPointer?
        _ = cshim_easy_getinfo_pointer(easy, CURLINFO_CONTENT_TYPE, &typePointer)
        let contentType = typePointer.map { String(cString: $0.assumingMemoryBound(to: CChar.self)) }
        var connects = 0
        _ = cshim_easy_getinfo_long(easy, CURLINFO_NUM_CONNECTS, &connects)
        var redirectPointer: UnsafeMutableRawPointer?
        _ = cshim_easy_getinfo_pointer(easy, CURLINFO_REDIRECT_URL, &redirectPointer)
        var response = HTTPClientResponse(status: status, contentType: contentType, body: transfer.body,
                                          totalTime: total.isFinite && total >= 0 && total < 1e9 ? .seconds(total) : .zero, newConnections: connects,
                                          redirectURL: redirectPointer.map { String(cString: $0.assumingMemoryBound(to: CChar.self)) })
        for name in transfer.request.responseHeaders {
            var header: UnsafeMutablePointer<curl_header>?
            // origin 1 = CURLH_HEADER (the final response's headers); request -1 = the last of that name.
            if cshim_curl_easy_header(easy, name, 0, 1, -1, &header) == CURLHE_OK, let value = header?.pointee.value {
                response.headers[name] = String(cString: value)
            }
        }
        return .response(response)
    }

    private func finish(_ easy: UnsafeMutableRawPointer, _ transfer: Transfer, _ result: HTTPClientResult) {
        cshim_curl_multi_remove_handle(multi, easy)
        cshim_curl_easy_cleanup(easy)
        active[transfer.id] = nil
        transfer.continuation.resume(returning: result)
        Unmanaged.passUnretained(transfer).release()
    }

    /// libcurl result codes to the closed reason set (DESIGN §5).
    public static func reason(forCurlCode code: Int) -> FailureReason {
        switch code {
        case 5, 6: return .dns
        case 7: return .connectionRefused
        case 28: return .timeout
        case 35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91: return .tls
        default: return .protocol
        }
    }
}

/// One in-flight request; owned by the loop thread once queued.
private final class Transfer: @unchecked Sendable {
    let id: UInt64
    let request: HTTPClientRequest
    let continuation: CheckedContinuation<HTTPClientResult, Never>
    let errorBuffer: UnsafeMutablePointer<CChar>
    /// socket()'s errno when curl could not open one (written by the C open-socket callback).
    let socketErrno: UnsafeMutablePointer<Int32>
    var body: [UInt8] = []
    /// Bytes handed to the request's body consumer.
    var streamed = 0
    var overflow = false
    var headerBytes = 0
    var headerOverflow = false
    var bodyBuffer: UnsafeMutableRawPointer?
    var headerList: UnsafeMutablePointer<curl_slist>?

    init(id: UInt64, request: HTTPClientRequest, continuation: CheckedContinuation<HTTPClientResult, Never>) {
        self.id = id
        self.request = request
        self.continuation = continuation
        errorBuffer = malloc(Int(CURL_ERROR_SIZE) + 1)!.assumingMemoryBound(to: CChar.self)
        errorBuffer.initialize(to: 0)
        socketErrno = .allocate(capacity: 1)
        socketErrno.initialize(to: 0)
    }

    deinit {
        free(errorBuffer)
        socketErrno.deallocate()
        if let bodyBuffer { free(bodyBuffer) }
        if let headerList { cshim_curl_slist_free_all(headerList) }
    }
}

private let curlWriteCallback: curl_write_callback = { data, size, count, userdata in
    guard let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    if let consumer = transfer.request.bodyConsumer {
        transfer.streamed += length
        if transfer.streamed > transfer.request.maxBodyBytes {
            transfer.overflow = true
            return 0
        }
        guard let data, length > 0 else { return length }
        let bytes = UnsafeRawBufferPointer(start: data, count: length)
        consumer.consume(bytes)
        let room = max(0, HTTPBodyConsumerLimits.keptBytes - transfer.body.count)
        if room > 0 { transfer.body.append(contentsOf: bytes.prefix(room)) }
        return length
    }
    if transfer.body.count + length > transfer.request.maxBodyBytes {
        transfer.overflow = true
        return 0
    }
    if let data, length > 0 {
        transfer.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
    }
    return length
}

private let curlHeaderCallback: curl_write_callback = { data, size, count, userdata in
    guard let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    transfer.headerBytes += length
    if transfer.headerBytes > transfer.request.maxHeaderBytes {
        transfer.headerOverflow = true
        return 0
    }
    return length
}
