import Foundation
@testable import InfraprobeCore

/// `JSONShape.differences` with the stated exceptions a documented sample needs: fields the
/// sample has for a reason that does not apply (`ignoring`, e.g. Enterprise's `Namespace`),
/// fields real answers carry beyond an older, minimal sample (`extra`), fields that may be
/// `null` for an empty value (`nullable`), and user-data maps whose keys are not compared
/// (`maps`, e.g. `Meta`). Paths are written `Servers[].Version`, `[].Session`.
extension JSONShape {
    static func differences(recorded: JSONValue, fake: JSONValue, ignoring: Set<String> = [], extra: Set<String> = [],
                            nullable: Set<String> = [], maps: Set<String> = []) -> [String] {
        let canonical = { (path: String) -> String in
            let indexed = path.replacingOccurrences(of: "[]", with: "[0]")
            return indexed.hasPrefix("[") ? "$" + indexed : "$." + indexed
        }
        let (ignored, extras, nullables, mapPaths) = (ignoring.map(canonical), Set(extra.map(canonical)),
                                                      Set(nullable.map(canonical)), maps.map(canonical))
        let under = { (path: String, root: String) in path == root || path.hasPrefix(root + ".") || path.hasPrefix(root + "[") }
        return differences(fake, recorded).filter { line in
            guard let colon = line.range(of: ": ") else { return true }
            let path = String(line[..<colon.lowerBound]), what = String(line[colon.upperBound...])
            if ignored.contains(where: { under(path, $0) }) { return false }
            if what == "not in the recording" && extras.contains(path) { return false }
            if nullables.contains(path) && (what.hasPrefix("fake null") || what.hasSuffix("recorded null")) { return false }
            if mapPaths.contains(where: { path.hasPrefix($0 + ".") }) { return false }
            return true
        }
    }
}
