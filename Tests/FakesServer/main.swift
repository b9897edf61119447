import Dispatch
import Foundation
import InfraprobeFakes

// Runs the five HTTP fakes (healthy) on free loopback ports and writes an infraprobe config
// that points at them. Usage: infraprobe-fakes --config-out FILE [--redis HOST:PORT]
// Stops on SIGTERM/SIGINT. For scripts/bench-all.sh; not part of the exporter.

var configOut: String?
var redis: String?
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--config-out": configOut = arguments.next()
    case "--redis": redis = arguments.next()
    default:
        FileHandle.standardError.write(Data("usage: infraprobe-fakes --config-out FILE [--redis HOST:PORT]\n".utf8))
        exit(2)
    }
}
guard let configOut else {
    FileHandle.standardError.write(Data("--config-out is required\n".utf8))
    exit(2)
}

let fleet = FakeFleet()
do {
    try fleet.start()
    try fleet.config(redisAddress: redis).write(toFile: configOut, atomically: true, encoding: .utf8)
} catch {
    FileHandle.standardError.write(Data("cannot start the fakes: \(error)\n".utf8))
    exit(1)
}
FileHandle.standardError.write(Data("fakes ready; config written to \(configOut)\n".utf8))

signal(SIGTERM, SIG_IGN)
signal(SIGINT, SIG_IGN)
let sources = [SIGTERM, SIGINT].map { number -> DispatchSourceSignal in
    let source = DispatchSource.makeSignalSource(signal: number, queue: .main)
    source.setEventHandler {
        fleet.stop()
        exit(0)
    }
    source.resume()
    return source
}
withExtendedLifetime(sources) { dispatchMain() }
