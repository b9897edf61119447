import Foundation

/// A parsed JSON document as a Sendable Swift value. Accessors are lenient about the forms
/// services use for the same thing (int64 as a string in OTLP/jsonpb, booleans as 0/1).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public static func parse(_ bytes: [UInt8]) -> JSONValue? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else { return nil }
        return JSONValue(foundation: object)
    }

    init?(foundation value: Any) {
        switch value {
        case is NSNull: self = .null
        case let string as String: self = .string(string)
        case let bool as Bool where type(of: value) == Bool.self: self = .bool(bool)
        case let number as NSNumber:
            #if canImport(Darwin)
            if CFGetTypeID(number) == CFBooleanGetTypeID() { self = .bool(number.boolValue); return }
            #endif
            self = .number(number.doubleValue)
        case let array as [Any]:
            var items: [JSONValue] = []
            for item in array {
                guard let parsed = JSONValue(foundation: item) else { return nil }
                items.append(parsed)
            }
            self = .array(items)
        case let dictionary as [String: Any]:
            var items: [String: JSONValue] = [:]
            for (key, item) in dictionary {
                guard let parsed = JSONValue(foundation: item) else { return nil }
                items[key] = parsed
            }
            self = .object(items)
        default: return nil
        }
    }

    public subscript(_ key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public subscript(_ index: Int) -> JSONValue? {
        if case .array(let array) = self, array.indices.contains(index) { return array[index] }
        return nil
    }

    public var string: String? {
        if case .string(let string) = self { return string }
        return nil
    }

    public var double: Double? {
        switch self {
        case .number(let number): return number
        case .string(let string): return Double(string)
        case .bool(let bool): return bool ? 1 : 0
        default: return nil
        }
    }

    public var int: Int? { double.flatMap { $0.isFinite ? Int(exactly: $0.rounded()) : nil } }

    public var bool: Bool? {
        switch self {
        case .bool(let bool): return bool
        case .number(let number) where number == 0 || number == 1: return number == 1
        default: return nil
        }
    }

    public var array: [JSONValue]? {
        if case .array(let array) = self { return array }
        return nil
    }

    public var object: [String: JSONValue]? {
        if case .object(let object) = self { return object }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// Compact JSON text with sorted keys.
    public var serialized: [UInt8] {
        var out = ""
        write(to: &out)
        return Array(out.utf8)
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let bool): out += bool ? "true" : "false"
        case .number(let number):
            if number.rounded() == number && abs(number) < 1e15 { out += String(Int64(number)) } else { out += String(number) }
        case .string(let string): Self.writeString(string, to: &out)
        case .array(let array):
            out += "["
            for (index, item) in array.enumerated() {
                if index > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let object):
            out += "{"
            for (index, key) in object.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                Self.writeString(key, to: &out)
                out += ":"
                object[key]!.write(to: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ string: String, to out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByFloatLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
}

/// Prometheus text exposition, parsed just far enough to read sample values.
public struct PrometheusSample: Sendable, Equatable {
    public let name: String
    public let labels: [String: String]
    public let value: Double
}

public enum PrometheusText {
    /// Parses every sample line; nil when a non-comment line is not a valid sample.
    public static func parse(_ text: String) -> [PrometheusSample]? {
        var samples: [PrometheusSample] = []
        for rawLine in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let sample = parseLine(line) else { return nil }
            samples.append(sample)
        }
        return samples
    }

    static func parseLine(_ line: String) -> PrometheusSample? {
        let chars = Array(line.unicodeScalars)
        var index = 0
        var name = ""
        while index < chars.count, isNameChar(chars[index], first: name.isEmpty) {
            name.unicodeScalars.append(chars[index]); index += 1
        }
        guard !name.isEmpty else { return nil }
        var labels: [String: String] = [:]
        if index < chars.count, chars[index] == "{" {
            index += 1
            while index < chars.count, chars[index] != "}" {
                var key = ""
                while index < chars.count, isNameChar(chars[index], first: key.isEmpty), chars[index] != ":" {
                    key.unicodeScalars.append(chars[index]); index += 1
                }
                guard !key.isEmpty, index + 1 < chars.count, chars[index] == "=", chars[index + 1] == "\"" else { return nil }
                index += 2
                var value = ""
                while index < chars.count, chars[index] != "\"" {
                    if chars[index] == "\\", index + 1 < chars.count {
                        index += 1
                        value.unicodeScalars.append(chars[index] == "n" ? "\n" : chars[index])
                    } else {
                        value.unicodeScalars.append(chars[index])
                    }
                    index += 1
                }
                guard index < chars.count else { return nil }
                index += 1
                labels[key] = value
                if index < chars.count, chars[index] == "," { index += 1 }
            }
            guard index < chars.count else { return nil }
            index += 1
        }
        let rest = String(String.UnicodeScalarView(chars[index...])).split(separator: " ", omittingEmptySubsequences: true)
        guard let first = rest.first, rest.count <= 2 else { return nil }
        let value: Double?
        switch first {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default: value = Double(first)
        }
        guard let value else { return nil }
        return PrometheusSample(name: name, labels: labels, value: value)
    }

    private static func isNameChar(_ scalar: Unicode.Scalar, first: Bool) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "_", ":": return true
        case "0"..."9": return !first
        default: return false
        }
    }
}

extension Array where Element == PrometheusSample {
    /// Sum of all samples of a family, accepting an optional `_total` suffix (OTel collector naming drift).
    public func sum(_ name: String) -> Double? {
        let matching = filter { $0.name == name || $0.name == name + "_total" }
        return matching.isEmpty ? nil : matching.reduce(0) { $0 + $1.value }
    }
}
