import Foundation

/// The spawned binary with two Redis targets: `redis-local` on a real redis-server and
/// `redis-hung` on a listener that never answers (its scrapes last until their 3 s deadline).
/// The setup the shutdown and flood tests share.
final class LiveAndHungRedisExporter: @unchecked Sendable {
    let redis: RedisServer
    let hole: BlackHoleListener
    let exporter: SpawnedExporter

    init(localTimeout: String? = nil, arguments: [String] = [], webConfig: String? = nil) throws {
        redis = try RedisServer()
        hole = try BlackHoleListener()
        let config = redis.directory.appendingPathComponent("infraprobe.yml")
        try """
        targets:
          redis-local:
            prober: redis
            address: \(redis.address)
        \(localTimeout.map { "    timeout: \($0)\n" } ?? "")  redis-hung:
            prober: redis
            address: \(hole.address)
            timeout: 3s
        """.write(to: config, atomically: true, encoding: .utf8)
        var arguments = arguments
        if let webConfig {
            let file = redis.directory.appendingPathComponent("web.yml")
            try webConfig.write(to: file, atomically: true, encoding: .utf8)
            arguments += ["--web.config.file", file.path]
        }
        exporter = try SpawnedExporter(configFile: config.path, arguments: arguments, directory: redis.directory)
    }
}
