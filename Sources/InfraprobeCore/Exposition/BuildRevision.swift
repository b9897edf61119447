// scripts/build-release rewrites this file with the git revision for the duration of a
// release build and restores it afterwards. Keep it to this one declaration.
extension BuildInfo {
    static let embeddedRevision: String? = nil
}
