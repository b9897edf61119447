import Foundation
@testable import InfraprobeCore

/// Compares the shape of two JSON values (field names and JSON types, recursively; arrays by
/// their elements), so a fake's answer can be checked against what the real service sent.
/// Values may differ; a number is a number whatever its digits.
enum JSONShape {
    static func kind(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "bool"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// Differences between `fake` and `recorded`, as `path: reason` lines; empty when the shapes agree.
    /// Keys in `free` (at any depth) hold service-defined content (e.g. a document's own fields) and
    /// are compared by type only.
    static func differences(_ fake: JSONValue, _ recorded: JSONValue, path: String = "$", free: Set<String> = []) -> [String] {
        // A null where the other side has a value is a type difference, except both null.
        guard kind(fake) == kind(recorded) else { return ["\(path): fake \(kind(fake)), recorded \(kind(recorded))"] }
        switch (fake, recorded) {
        case (.object(let f), .object(let r)):
            var out: [String] = []
            for key in Set(f.keys).union(r.keys).sorted() {
                let child = "\(path).\(key)"
                switch (f[key], r[key]) {
                case (nil, _): out.append("\(child): missing in the fake")
                case (_, nil): out.append("\(child): not in the recording")
                case (let a?, let b?):
                    out += free.contains(key) ? (kind(a) == kind(b) ? [] : ["\(child): fake \(kind(a)), recorded \(kind(b))"])
                                              : differences(a, b, path: child, free: free)
                }
            }
            return out
        case (.array(let f), .array(let r)):
            guard let a = f.first, let b = r.first else { return [] }
            return differences(a, b, path: path + "[0]", free: free)
        default:
            return []
        }
    }

    /// Like `differences`, but fields the recording has and the fake lacks are allowed (`optional`):
    /// for a spec whose every field may be absent (Grafana's OpenAPI marks them omitempty).
    static func notInSpec(_ fake: JSONValue, _ spec: JSONValue, path: String = "$") -> [String] {
        differences(fake, spec, path: path).filter { !$0.hasSuffix("missing in the fake") }
    }
}

/// Grafana's v13 OpenAPI models as the conformance extract lists them (`name  GoType  description`),
/// turned into a JSON instance per model with a value of the right JSON type in every field.
enum GrafanaSpec {
    static func models() throws -> [String: [(name: String, type: String)]] {
        let text = String(decoding: try Conformance.data("grafana/openapi/models.txt"), as: UTF8.self)
        var models: [String: [(String, String)]] = [:]
        var current: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasSuffix(": struct {") {
                current = String(line.dropLast(": struct {".count))
                models[current!] = []
            } else if let model = current, line.hasPrefix("  "), !line.hasPrefix("  (") {
                let words = line.split(separator: " ")
                guard words.count >= 2 else { continue }
                let name = words[0].split(separator: ",").first.map(String.init) ?? ""
                models[model]?.append((name, String(words[1])))
            } else if line.isEmpty {
                current = nil
            }
        }
        return models
    }

    /// A value of the JSON type a Go type marshals to.
    static func value(_ goType: String, models: [String: [(name: String, type: String)]]) -> JSONValue {
        let type = goType.hasPrefix("*") ? String(goType.dropFirst()) : goType
        switch type {
        case "string", "DsAccess", "HitType", "strfmt.DateTime": return "s"
        case "int64", "int32", "int", "float64": return 1
        case "bool": return true
        case "JSON", "Metadata", "map[string]bool": return [:]
        case "[]string": return ["s"]
        default:
            if let fields = models[type] { return instance(fields, models: models) }
            return [:]
        }
    }

    static func instance(_ fields: [(name: String, type: String)], models: [String: [(name: String, type: String)]],
                         overrides: [String: JSONValue] = [:]) -> JSONValue {
        var object: [String: JSONValue] = [:]
        for field in fields { object[field.name] = overrides[field.name] ?? value(field.type, models: models) }
        return .object(object)
    }

    static func instance(_ model: String, overrides: [String: JSONValue] = [:]) throws -> JSONValue {
        let models = try models()
        guard let fields = models[model] else { throw Conformance.MissingMaterial(path: "grafana/openapi/models.txt model \(model)") }
        return instance(fields, models: models, overrides: overrides)
    }
}
