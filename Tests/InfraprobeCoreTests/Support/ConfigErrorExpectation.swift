import Testing
@testable import InfraprobeCore

/// Expects `yaml` to be refused with a ConfigError at `line` naming `key` and saying `text`, and
/// returns that error for further checks (nil when there was none: that is already recorded).
@discardableResult
func expectConfigError(_ yaml: String, line: Int?, key: String, containing text: String,
                       sourceLocation: SourceLocation = #_sourceLocation) -> ConfigError? {
    do {
        _ = try Probe.config(yaml)
        Issue.record("expected a config error", sourceLocation: sourceLocation)
    } catch let error as ConfigError {
        #expect(error.line == line, "\(error)", sourceLocation: sourceLocation)
        #expect(error.key == key, "\(error)", sourceLocation: sourceLocation)
        #expect(error.description.contains(text), "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
