import Foundation

/// One fuzz harness: called with each input libFuzzer generates. It returns normally for any
/// input; a trap, an ASan report or a hang past `-timeout` is the finding.
struct Harness: Sendable {
    let name: String
    let run: @Sendable ([UInt8]) -> Void
}

let harnesses: [Harness] = [
    JSONHarness.harness,
    PrometheusTextHarness.harness,
    RESPHarness.harness,
    ConfigHarness.configHarness,
    ConfigHarness.webConfigHarness,
    HTTPRequestHarness.harness,
] + ProberAnswerHarness.harnesses

/// Chosen once in `main` from INFRAPROBE_FUZZ_HARNESS, before libFuzzer calls in.
nonisolated(unsafe) var selected: Harness?

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    selected?.run(bytes)
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// SwiftPM links executables with `main` renamed to this entry point, which shadows libFuzzer's
/// own `main`; so this one starts libFuzzer's driver itself.
@main
struct FuzzMain {
    static func main() {
        let name = ProcessInfo.processInfo.environment["INFRAPROBE_FUZZ_HARNESS"] ?? ""
        guard let harness = harnesses.first(where: { $0.name == name }) else {
            FileHandle.standardError.write(Data("set INFRAPROBE_FUZZ_HARNESS to one of: \(harnesses.map(\.name).joined(separator: " "))\n".utf8))
            exit(2)
        }
        selected = harness
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
    }
}

/// Runs async library code to completion from libFuzzer's synchronous callback (which is on
/// the main thread, never on the cooperative pool).
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let done = DispatchSemaphore(value: 0)
    let box = ResultBox<T>()
    Task {
        box.value = await body()
        done.signal()
    }
    done.wait()
    return box.value!
}

final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}
