import Foundation
import InfraprobeCore

/// A compromised or broken service's numbers: applied to a fake's faithful answer after it
/// has been routed, so the fake's state stays consistent while every number a prober reads is
/// replaced by `token`, written verbatim (`1e300`, `-1`, `NaN`, `1e999`, 400 digits).
public enum HostileAnswer: Sendable, Equatable, CustomStringConvertible {
    /// Every JSON number, every JSON string holding a decimal integer (jsonpb int64), and
    /// every Prometheus sample value.
    case numbers(String)
    /// An OTLP receiver's `partialSuccess` carrying `rejectedSpans`/`rejectedDataPoints` = token.
    case otlpRejected(String)

    public var description: String {
        switch self {
        case .numbers(let token): "numbers replaced by \(token.prefix(24))"
        case .otlpRejected(let token): "partialSuccess rejected = \(token.prefix(24))"
        }
    }

    func rewrite(_ response: HTTPResponse) -> HTTPResponse {
        let type = response.header("content-type") ?? ""
        var rewritten = response
        if type.contains("json"), let value = JSONValue.parse(response.body) {
            var out = ""
            write(value, key: nil, to: &out)
            rewritten.body = Array(out.utf8)
        } else if case .numbers(let token) = self, type.hasPrefix("text/plain") {
            rewritten.body = Array(Self.prometheusValues(String(decoding: response.body, as: UTF8.self), token).utf8)
        }
        return rewritten
    }

    /// Replaces the value field of every sample line.
    static func prometheusValues(_ text: String, _ token: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard !line.isEmpty, !line.hasPrefix("#") else { return String(line) }
            let end = line.lastIndex(of: "}") ?? line.firstIndex(of: " ") ?? line.endIndex
            guard let space = line[end...].firstIndex(of: " ") else { return String(line) }
            return line[..<space] + " " + token
        }.joined(separator: "\n")
    }

    private func write(_ value: JSONValue, key: String?, to out: inout String) {
        switch value {
        case .number(let number):
            if case .numbers(let token) = self { out += token } else { out += String(decoding: JSONValue.number(number).serialized, as: UTF8.self) }
        case .string(let string):
            if case .numbers(let token) = self, !string.isEmpty, string.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") }) {
                out += "\"" + token + "\""
            } else {
                out += String(decoding: value.serialized, as: UTF8.self)
            }
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                write(item, key: nil, to: &out)
            }
            out += "]"
        case .object(var object):
            if key == "partialSuccess", case .otlpRejected(let token) = self {
                object["rejectedSpans"] = nil
                object["rejectedDataPoints"] = nil
                object["errorMessage"] = "hostile\u{1B}[31m\ncount"
                out += "{\"rejectedSpans\":\(token),\"rejectedDataPoints\":\(token)"
                for (name, item) in object.sorted(by: { $0.key < $1.key }) {
                    out += "," + String(decoding: JSONValue.string(name).serialized, as: UTF8.self) + ":"
                    write(item, key: name, to: &out)
                }
                out += "}"
                return
            }
            out += "{"
            for (index, (name, item)) in object.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { out += "," }
                out += String(decoding: JSONValue.string(name).serialized, as: UTF8.self) + ":"
                write(item, key: name, to: &out)
            }
            out += "}"
        default:
            out += String(decoding: value.serialized, as: UTF8.self)
        }
    }
}
