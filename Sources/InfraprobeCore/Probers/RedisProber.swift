import FoundationEssentials
import Glibc

/// Functional test of a Redis server: each component exercises one feature the way an
/// application does, on keys of its own that carry a TTL and are deleted before returning.
public struct RedisProber: Prober {
    public static let descriptor = ProberDescriptor(
        kind: "redis",
        componentNames: ["service_running", "basic_operations", "cache_operations", "session_management",
                         "stream_operations", "priority_queue", "memory_usage"],
        addressKey: "address",
        addressIsURL: false,
        make: { section, environment in try RedisProber(section: section, environment: environment) })

    static let keyTTLSeconds = "60"

    public let address: RedisAddress
    public let login: RedisLogin
    public let maxMemoryRatio: Double
    public let keyPrefix: String
    /// The runtime's pools: a probe takes its address's pool from them, the config builds none.
    let pools: RedisPools

    public init(section: ConfigSection, environment: ProberEnvironment) throws {
        let addressText = try section.requiredString("address")
        guard !URLUserinfo.present(in: addressText) else { throw section.error("address", URLUserinfo.refusal) }
        guard let address = RedisAddress(addressText) else {
            throw section.error("address", "expected host:port, [ipv6]:port or unix:/path, got \"\(addressText)\"")
        }
        let login = RedisLogin(
            username: try section.string("username"),
            password: try section.secret("password"),
            database: try section.int("db", range: 0...15) ?? 0)
        if login.username != nil && login.password == nil {
            throw section.error("username", "a username needs a password or password_file")
        }
        maxMemoryRatio = try section.double("max_memory_ratio", range: 0.01...1) ?? 0.9
        keyPrefix = try section.string("key_prefix") ?? "infraprobe"
        self.address = address
        self.login = login
        pools = environment.redisPools
    }

    /// Components run on the loop that drives their connections: a pipeline is queued on the
    /// socket without a hand-off, and those of one probe's components go out in one write.
    public var executorPreference: (any TaskExecutor)? { pools.loop }

    public func checks() -> [ComponentCheck] {
        [
            check("service_running", fresh: true, firstPipeline: Self.serviceRunningPipeline, Self.serviceRunning),
            check("basic_operations", Self.basicOperations),
            check("cache_operations", Self.cacheOperations),
            check("session_management", Self.sessionManagement),
            check("stream_operations", Self.streamOperations),
            check("priority_queue", Self.priorityQueue),
            check("memory_usage", Self.memoryUsage),
        ]
    }

    /// Runs a component body on the address's shared connection, or on a fresh one (`fresh`).
    private func check(_ name: String, fresh: Bool = false, firstPipeline: [[String]]? = nil,
                       _ body: @escaping @Sendable (RedisProber, RedisSession, ComponentContext) async throws -> Void) -> ComponentCheck {
        ComponentCheck(name) { [self] context in
            let pool = pools.pool(for: address, login: login)
            try await RedisSession.with(pool: pool, context: context, fresh: fresh, firstPipeline: firstPipeline) {
                try await body(self, $0, context)
            }
        }
    }

    /// `infraprobe:<instance>:<nonce>:<component>`: unique per probe, easy to grant by ACL pattern.
    func key(_ context: ComponentContext, _ suffix: String = "") -> String {
        "\(keyPrefix):\(context.instanceID):\(context.nonce):\(context.component)\(suffix)"
    }

    // MARK: components

    // Each component sends its commands as one pipeline (two for streams, which need the entry
    // id): the server still runs and answers every command in order, and each answer is
    // checked, but the probe pays one round trip instead of one per command. The final DEL is
    // part of the pipeline, so Redis runs it even when an earlier command was refused.

    /// On a connection of its own, opened and logged in on every probe, so a full client
    /// table, a changed password or a broken accept path shows here even while the pooled
    /// connections the other components use still work.
    static let serviceRunningPipeline = [["PING"], ["INFO", "server"]]

    private static func serviceRunning(_ probe: RedisProber, _ redis: RedisSession, _ context: ComponentContext) async throws {
        // Connected and logged in, so refused, DNS and a hanging connect are ruled out; and the
        // shared connection the others use has answered all it was sent: their pipelines go
        // out while PING and INFO are on their way. A server that stops answering loses that
        // connection at the first probe it hangs, and the next probes' others wait for the gate.
        if redis.sharedConnectionIsAnsweredAndIdle { context.serviceReached() }
        if let connect = redis.connectTime {
            context.fact("infraprobe_redis_connect_seconds", help: "Seconds service_running took to open its fresh connection to Redis.",
                         value: connect.seconds)
        }
        if let setup = redis.setupTime, probe.login.password != nil {
            context.fact("infraprobe_redis_auth_seconds", help: "Seconds the AUTH (and SELECT) of service_running's fresh connection took.",
                         value: setup.seconds)
        }
        let replies = try await redis.pipeline(serviceRunningPipeline)
        guard replies[0].string == "PONG" else { throw ProbeFailure(.unexpectedResponse, "PING answered \(replies[0]), expected PONG") }
        let info = RedisInfo(reply: replies[1])
        if let version = info["redis_version"] { context.reportVersion(version) }
        if let uptime = try info.count("uptime_in_seconds") {
            context.fact("infraprobe_redis_uptime_seconds", help: "Seconds since the Redis server started.", value: Double(uptime))
        }
    }

    private static func basicOperations(_ probe: RedisProber, _ redis: RedisSession, _ context: ComponentContext) async throws {
        let key = probe.key(context)
        let value = "value-\(context.nonce)"
        let replies = try await redis.pipeline([["SET", key, value, "EX", keyTTLSeconds], ["GET", key], ["DEL", key], ["EXISTS", key]])
        try expect(replies[0], .status("OK"), "SET")
        try expect(replies[1], .bulk(Array(value.utf8)), "GET after SET")
        try expect(replies[2], .integer(1), "DEL")
        try expect(replies[3], .integer(0), "EXISTS after DEL")
    }

    private static func cacheOperations(_ probe: RedisProber, _ redis: RedisSession, _ context: ComponentContext) async throws {
        let entry = probe.key(context, ":entry")
        let counter = probe.key(context, ":hits")
        let missing = probe.key(context, ":missing")
        let replies = try await redis.pipeline([
            ["SET", entry, "cached", "EX", keyTTLSeconds], ["TTL", entry],
            ["SET", counter, "41", "EX", keyTTLSeconds], ["INCR", counter], ["TTL", counter],
            ["GET", missing], ["DEL", entry, counter],
        ])
        try expect(replies[0], .status("OK"), "SET EX")
        let ttl = replies[1].integer ?? -3
        guard ttl > 0 && ttl <= 60 else { throw ProbeFailure(.unexpectedResponse, "TTL after SET EX 60 is \(ttl), expected 1...60") }
        try expect(replies[2], .status("OK"), "SET counter")
        try expect(replies[3], .integer(42), "INCR")
        let counterTTL = replies[4].integer ?? -3
        guard counterTTL > 0 else { throw ProbeFailure(.unexpectedResponse, "INCR dropped the TTL (TTL \(counterTTL))") }
        try expect(replies[5], .null, "GET of a missing key (cache miss)")
        try expect(replies[6], .integer(2), "DEL")
    }

    private static func sessionManagement(_ probe: RedisProber, _ redis: RedisSession, _ context: ComponentContext) async throws {
        let key = probe.key(context)
        let fields = ["user": "probe", "token": context.nonce, "role": "reader"]
        let write = ["HSET", key] + fields.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] }
        // MULTI/EXEC: the hash never exists without its TTL, even if the probe dies in between.
        let replies = try await redis.pipeline([["MULTI"], write, ["EXPIRE", key, keyTTLSeconds], ["EXEC"],
                                          ["HGETALL", key], ["TTL", key], ["DEL", key]])
        guard let results = replies[3].array, results == [.integer(3), .integer(1)] else {
            throw ProbeFailure(.unexpectedResponse, "MULTI HSET+EXPIRE answered \(replies[3]), expected [3, 1]")
        }
        let stored = replies[4].array ?? []
        var readBack: [String: String] = [:]
        for pair in stride(from: 0, to: stored.count - 1, by: 2) {
            readBack[stored[pair].string ?? ""] = stored[pair + 1].string ?? ""
        }
        guard readBack == fields else { throw ProbeFailure(.unexpectedResponse, "HGETALL returned \(readBack), expected \(fields)") }
        let ttl = replies[5].integer ?? -3
        guard ttl > 0 else { throw ProbeFailure(.unexpectedResponse, "session hash has no TTL (TTL \(ttl))") }
        try expect(replies[6], .integer(1), "DEL session")
    }

    /// The entry's id is the probe's own (the key is new, so any id is above its last one):
    /// the XACK that needs it goes in the same pipeline instead of a second round trip.
    private static func streamOperations(_ probe: RedisProber, _ redis: RedisSession, _ context: ComponentContext) async throws {
        let key = probe.key(context)
        let group = "infraprobe"
        let id = "\(Int64(Date().timeIntervalSince1970 * 1000))-1"
        let commands = [
            ["MULTI"], ["XADD", key, "MAXLEN", "~", "100", id, "probe", context.nonce], ["EXPIRE", key, keyTTLSeconds], ["EXEC"],
            ["XGROUP", "CREATE", key, group, "0"],
            ["XREADGROUP", "GROUP", group, "consumer", "COUNT", "10", "STREAMS", key, ">"],
            ["XACK", key, group, id], ["XPENDING", key, group], ["DEL", key],
        ]
        let replies: [RedisValue]
        do {
            replies = try await redis.pipelineReplies(commands)
        } catch {
            // Cut off before its replies: the DEL may not have run.
            _ = try? await redis.call(["DEL", key])
            throw error
        }
        // Every reply is in, so the pipeline's DEL ran whatever an earlier command answered.
        try RedisSession.throwFirstError(in: replies, of: commands)
        guard let results = replies[3].array, results == [.bulk(Array(id.utf8)), .integer(1)] else {
            throw ProbeFailure(.unexpectedResponse, "MULTI XADD \(id)+EXPIRE answered \(replies[3]), expected [\(id), 1]")
        }
        try expect(replies[4], .status("OK"), "XGROUP CREATE")
        // [[key, [[id, [field, value]]]]]
        let delivered = replies[5]
        guard let streams = delivered.array, let entries = streams.first?.array?.last?.array,
              let entry = entries.first?.array, entry.first?.string == id,
              entry.last?.array == [.bulk(Array("probe".utf8)), .bulk(Array(context.nonce.utf8))]
        else { throw ProbeFailure(.unexpectedResponse, "XREADGROUP did not deliver entry \(id): \(delivered)") }
        try expect(replies[6], .integer(1), "XACK")
        let pending = replies[7].array?.first?.integer
        guard pending == 0 else { throw ProbeFailure(.unexpectedResponse, "XPENDING reports \(pending.map(String.init) ?? "?") unacked entries after XACK") }
        try expect(replies[8], .integer(1), "DEL stream")
    }

    private static func priorityQueue(_ probe: RedisProber, _ redis: RedisSession, _ context: ComponentContext) async throws {
        let key = probe.key(context)
        let replies = try await redis.pipeline([
            ["MULTI"], ["ZADD", key, "30", "low", "10", "urgent", "20", "normal"], ["EXPIRE", key, keyTTLSeconds], ["EXEC"],
            ["ZPOPMIN", key], ["ZPOPMIN", key], ["ZCARD", key], ["DEL", key],
        ])
        guard let results = replies[3].array, results == [.integer(3), .integer(1)] else {
            throw ProbeFailure(.unexpectedResponse, "MULTI ZADD+EXPIRE answered \(replies[3]), expected [3, 1]")
        }
        for (index, (member, score)) in [("urgent", 10.0), ("normal", 20.0)].enumerated() {
            let popped = replies[4 + index]
            guard popped.array?.first?.string == member, popped.array?.last?.string.flatMap(Double.init) == score else {
                throw ProbeFailure(.unexpectedResponse, "ZPOPMIN returned \(popped), expected \(member) with score \(Int(score))")
            }
        }
        try expect(replies[6], .integer(1), "ZCARD after two pops")
        try expect(replies[7], .integer(1), "DEL queue")
    }

    private static func memoryUsage(_ probe: RedisProber, _ redis: RedisSession, _ context: ComponentContext) async throws {
        let info = RedisInfo(reply: try await redis.call(["INFO", "memory"]))
        guard let usedBytes = try info.count("used_memory") else {
            throw ProbeFailure(.unexpectedResponse, "INFO memory has no used_memory field")
        }
        let used = Double(usedBytes)
        let max = Double(try info.count("maxmemory") ?? 0)
        context.fact("infraprobe_redis_memory_used_bytes", help: "Memory used by Redis (INFO used_memory).", value: used)
        context.fact("infraprobe_redis_memory_max_bytes", help: "Redis maxmemory limit; 0 means no limit.", value: max)
        if let rss = try info.count("used_memory_rss") {
            context.fact("infraprobe_redis_memory_rss_bytes", help: "Resident memory of the Redis process (INFO used_memory_rss).", value: Double(rss))
        }
        guard max > 0 else {
            context.step("maxmemory is 0 (no limit): nothing to compare against")
            return
        }
        let ratio = used / max
        context.step(CFormat.string("used/max = %.0f/%.0f = %.3f (limit %.2f)", used, max, ratio, probe.maxMemoryRatio))
        if ratio > probe.maxMemoryRatio {
            let percent = CFormat.string("memory use %.1f%% of maxmemory is above %.0f%%", ratio * 100, probe.maxMemoryRatio * 100)
            throw ProbeFailure(.resourceExhausted, "\(percent) (policy \(info["maxmemory_policy"] ?? "?"))")
        }
    }

    private static func expect(_ reply: RedisValue, _ expected: RedisValue, _ what: String) throws {
        guard reply == expected else { throw ProbeFailure(.unexpectedResponse, "\(what) answered \(reply), expected \(expected)") }
    }
}
