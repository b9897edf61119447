import InfraprobeCore

/// JSONValue.parse on any bytes; whatever it accepts must serialize and parse back to itself,
/// and every accessor the probers use must answer without trapping.
enum JSONHarness {
    static let harness = Harness(name: "json") { bytes in
        guard let value = JSONValue.parse(bytes) else { return }
        visit(value)
        guard let again = JSONValue.parse(value.serialized) else {
            fatalError("serialized JSON does not parse: \(String(decoding: value.serialized.prefix(200), as: UTF8.self))")
        }
        guard again.serialized == value.serialized else { fatalError("JSON round trip changed the document") }
    }

    static func visit(_ value: JSONValue) {
        _ = (value.int, value.double, value.bool, value.string, value.isNull, value[0], value["a"])
        for item in value.array ?? [] { visit(item) }
        for (_, item) in value.object ?? [:] { visit(item) }
    }
}
