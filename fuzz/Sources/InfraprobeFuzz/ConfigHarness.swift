import Foundation
import InfraprobeCore

/// Any bytes as infraprobe.yml and as --web.config.file: each either loads or is refused with
/// a ConfigError; both must come back without trapping, and a loaded config must render.
enum ConfigHarness {
    /// Relative `*_file` paths resolve here; the directory is empty, so they fail to read.
    static let baseDirectory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("infraprobe-fuzz-empty")
    static let loader = ConfigLoader(environment: ProberEnvironment(instanceID: "fuzz", http: ProberAnswerHarness.offlineClient))

    static let configHarness = Harness(name: "config_yaml") { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        guard let config = try? loader.parse(yaml: text, file: "fuzz.yml", baseDirectory: baseDirectory) else { return }
        _ = config.redactedYAML()
        for module in config.modules { _ = module.name }
    }

    static let webConfigHarness = Harness(name: "web_config") { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        _ = try? WebConfig.parse(yaml: text, file: "web.yml", baseDirectory: baseDirectory)
    }
}
