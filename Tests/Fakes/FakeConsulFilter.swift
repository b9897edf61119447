import Foundation
import InfraprobeCore

/// The part of Consul's `filter` language (hashicorp/go-bexpr) that clients of the fake use:
/// `Sel == "v"`, `Sel != "v"`, `"v" in Sel` (a map's keys or a list's items),
/// `Sel contains "v"`, `Sel is empty`, `Sel is not empty`, joined by `and`. `Sel` is a
/// dotted path into a listed object (`Meta.infraprobe_role`). Anything else is refused with
/// Consul's 400 text, so a client cannot lean on syntax the fake only pretends to know.
struct FakeConsulFilter {
    enum Clause {
        case equals([String], String, negated: Bool)
        case contains([String], String)
        case empty([String], negated: Bool)
    }

    let clauses: [Clause]

    /// A failure carries Consul's 400 text for an expression it cannot compile.
    static func parse(_ text: String) -> Result<FakeConsulFilter, FakeConsulFilterError> {
        var clauses: [Clause] = []
        for part in text.components(separatedBy: " and ") {
            let clause = part.trimmingCharacters(in: .whitespaces)
            if let (left, right) = split(clause, " == "), let value = literal(right) {
                clauses.append(.equals(selector(left), value, negated: false))
            } else if let (left, right) = split(clause, " != "), let value = literal(right) {
                clauses.append(.equals(selector(left), value, negated: true))
            } else if let (left, right) = split(clause, " in "), let value = literal(left) {
                clauses.append(.contains(selector(right), value))
            } else if let (left, right) = split(clause, " contains "), let value = literal(right) {
                clauses.append(.contains(selector(left), value))
            } else if clause.hasSuffix(" is not empty") {
                clauses.append(.empty(selector(String(clause.dropLast(" is not empty".count))), negated: true))
            } else if clause.hasSuffix(" is empty") {
                clauses.append(.empty(selector(String(clause.dropLast(" is empty".count))), negated: false))
            } else {
                return .failure(FakeConsulFilterError(message: "Failed to create boolean expression evaluator: 1:1 (0): no match found, expected: \"(\" or [ \\t\\r\\n] or [a-zA-Z]"))
            }
        }
        return .success(FakeConsulFilter(clauses: clauses))
    }

    private static func split(_ text: String, _ separator: String) -> (String, String)? {
        guard let range = text.range(of: separator) else { return nil }
        return (String(text[..<range.lowerBound]).trimmingCharacters(in: .whitespaces),
                String(text[range.upperBound...]).trimmingCharacters(in: .whitespaces))
    }

    private static func literal(_ text: String) -> String? {
        guard text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") else { return nil }
        return String(text.dropFirst().dropLast()).replacingOccurrences(of: "\\\"", with: "\"").replacingOccurrences(of: "\\\\", with: "\\")
    }

    private static func selector(_ text: String) -> [String] { text.split(separator: ".").map(String.init) }

    private static func value(_ object: JSONValue, _ path: [String]) -> JSONValue? {
        var current: JSONValue? = object
        for key in path { current = current?[key] }
        return current
    }

    func matches(_ object: JSONValue) -> Bool {
        clauses.allSatisfy { clause in
            switch clause {
            case .equals(let path, let wanted, let negated):
                // A missing map key compares as its zero value, as go-bexpr does.
                let found = Self.value(object, path)?.string ?? ""
                return (found == wanted) != negated
            case .contains(let path, let wanted):
                let found = Self.value(object, path)
                if let map = found?.object { return map[wanted] != nil }
                if let list = found?.array { return list.contains { $0.string == wanted } }
                return found?.string?.contains(wanted) ?? false
            case .empty(let path, let negated):
                let found = Self.value(object, path)
                let isEmpty = found == nil || found == .null || found?.string == "" || found?.array?.isEmpty == true || found?.object?.isEmpty == true
                return isEmpty != negated
            }
        }
    }
}

struct FakeConsulFilterError: Error {
    let message: String
}
