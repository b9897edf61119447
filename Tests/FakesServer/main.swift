import Dispatch
import Foundation
import InfraprobeCore
import InfraprobeFakes

// Runs the five HTTP fakes (healthy, linked as in a real deployment) on free loopback ports and
// writes an infraprobe config that points at them.
// Usage: infraprobe-fakes --config-out FILE [--redis HOST:PORT] [--control 127.0.0.1:PORT] [--latency 20ms]
// --latency makes every fake answer after that long, as services across a network would.
// --control serves `POST /<fake>/<state>` (fake: consul, arangodb, tempo, grafana, otel; state:
// down, up, and for otel drop/nodrop) so a script can break and restore each fake, and
// `GET /footprint` (each fake's requests since the last `DELETE /footprint`, and the objects it holds).
// Stops on SIGTERM/SIGINT. For scripts/bench-all.sh, scripts/resilience.sh and scripts/footprint; not part of the exporter.

var configOut: String?
var redis: String?
var controlAddress: String?
var latency: Duration = .zero
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--config-out": configOut = arguments.next()
    case "--redis": redis = arguments.next()
    case "--control": controlAddress = arguments.next()
    case "--latency":
        guard let text = arguments.next(), let value = DurationParser.parse(text) else {
            FileHandle.standardError.write(Data("--latency: expected a duration such as 20ms\n".utf8))
            exit(2)
        }
        latency = value
    default:
        FileHandle.standardError.write(Data("usage: infraprobe-fakes --config-out FILE [--redis HOST:PORT] [--control 127.0.0.1:PORT] [--latency 20ms]\n".utf8))
        exit(2)
    }
}
guard let configOut else {
    FileHandle.standardError.write(Data("--config-out is required\n".utf8))
    exit(2)
}

let fleet = FakeFleet()
var control: HTTPServer?
do {
    try fleet.start(redisAddress: redis)
    fleet.setLatency(latency)
    if let controlAddress {
        guard let listen = ListenAddress(controlAddress) else {
            FileHandle.standardError.write(Data("--control: expected HOST:PORT\n".utf8))
            exit(2)
        }
        let server = HTTPServer(listen: listen) { request, _ in
            let parts = request.path.split(separator: "/").map(String.init)
            if parts == ["footprint"] {
                if request.method == "GET" {
                    return HTTPResponse(status: 200, contentType: "application/json", body: String(decoding: fleet.footprint().serialized, as: UTF8.self))
                }
                if request.method == "DELETE" { fleet.resetRequestLogs(); return .text(200, "ok") }
            }
            guard request.method == "POST", parts.count == 2 else { return .text(404, "POST /<fake>/<state>") }
            do {
                let answer = try fleet.control(parts[0], parts[1])
                FileHandle.standardError.write(Data("control: \(parts[0]) \(parts[1]): \(answer)\n".utf8))
                return .text(answer == "ok" ? 200 : 400, answer)
            } catch {
                return .text(500, "\(error)")
            }
        }
        try server.start()
        control = server
    }
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
        control?.stop()
        fleet.stop()
        exit(0)
    }
    source.resume()
    return source
}
withExtendedLifetime(sources) { dispatchMain() }
