import Glibc
import InfraprobeCore

/// `infraprobe check`: probes the configured targets once and prints the report.
enum CheckCommand {
    /// 0 all passed, 1 some failed, 2 config error.
    static func run(_ options: CheckOptions) async -> Int32 {
        let logger = options.logging.bootstrap()
        signal(SIGPIPE, SIG_IGN)
        let environment = ProberEnvironment(cleanupLedger: CleanupLedger(logger: logger))
        let config: InfraprobeConfig
        do {
            config = try ConfigLoader(environment: environment).load(file: options.configFile)
        } catch {
            StandardError.write("\(error)\n")
            return 2
        }
        var selected = config.targets
        if !options.targets.isEmpty {
            for name in options.targets where config.target(named: name) == nil {
                StandardError.write("\(options.configFile): unknown target \"\(name)\"\n")
                return 2
            }
            selected = config.targets.filter { options.targets.contains($0.name) }
        }
        let results = await withTaskGroup(of: (Int, TargetProbeResult).self) { group in
            for (index, target) in selected.enumerated() {
                group.addTask { (index, await ComponentRunner.run(target: target, deadline: .after(target.timeout), environment: environment)) }
            }
            var collected: [(Int, TargetProbeResult)] = []
            for await item in group { collected.append(item) }
            return collected.sorted { $0.0 < $1.0 }.map(\.1)
        }
        print(options.format == .json ? CheckReport.json(results) : CheckReport.text(results), terminator: "")
        // What a probe could not remove by its deadline is retried now: a one-shot check must
        // not leave objects behind any more than the exporter does.
        let left = await environment.cleanupLedger.drain(within: .milliseconds(Int64(options.cleanupWait * 1000)))
        if left > 0 {
            StandardError.write("warning: \(left) removal(s) still pending after --cleanup.wait=\(options.cleanupWait)s; the exporter's janitor removes them later\n")
        }
        return results.allSatisfy(\.success) ? 0 : 1
    }
}
