import Foundation
@testable import InfraprobeCore

/// Compares the shape of two JSON values: the same keys, and the same JSON type at every key
/// (values may differ). `null` is a type of its own, except where either side may be `null`
/// for an empty value (`nullable`). Arrays compare their first elements' shapes.
enum JSONShape {
    static func type(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "bool"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// Differences as `path: what`, empty when the shapes agree. `ignoring` lists paths
    /// (`Servers[].Version`, `Namespace`) whose presence differs for a stated reason; `extra`
    /// lists paths the fake may add (fields real answers have beyond the recorded sample);
    /// `maps` lists paths holding user data keyed by name (`Meta`), whose keys are not compared.
    static func differences(recorded: JSONValue, fake: JSONValue, path: String = "", ignoring: Set<String> = [],
                            extra: Set<String> = [], nullable: Set<String> = [], maps: Set<String> = []) -> [String] {
        if maps.contains(path), case .object = recorded, case .object = fake { return [] }
        let here = path.isEmpty ? "(root)" : path
        if recorded == .null || fake == .null {
            if type(recorded) == type(fake) || nullable.contains(path) { return [] }
            return ["\(here): recorded \(type(recorded)), fake \(type(fake))"]
        }
        guard type(recorded) == type(fake) else { return ["\(here): recorded \(type(recorded)), fake \(type(fake))"] }
        switch (recorded, fake) {
        case (.object(let want), .object(let have)):
            var problems: [String] = []
            let join = { (key: String) in path.isEmpty ? key : "\(path).\(key)" }
            for (key, value) in want where !ignoring.contains(join(key)) {
                guard let other = have[key] else {
                    problems.append("\(join(key)): missing in the fake")
                    continue
                }
                problems += differences(recorded: value, fake: other, path: join(key), ignoring: ignoring, extra: extra, nullable: nullable, maps: maps)
            }
            for key in have.keys where want[key] == nil && !extra.contains(join(key)) && !ignoring.contains(join(key)) {
                problems.append("\(join(key)): only in the fake")
            }
            return problems
        case (.array(let want), .array(let have)):
            guard let first = want.first, let other = have.first else { return [] }
            return differences(recorded: first, fake: other, path: path + "[]", ignoring: ignoring, extra: extra, nullable: nullable, maps: maps)
        default:
            return []
        }
    }
}
