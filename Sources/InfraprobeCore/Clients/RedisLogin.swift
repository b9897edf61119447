/// Credentials and database a Redis connection is set up with.
public struct RedisLogin: Sendable {
    public let username: String?
    public let password: Secret?
    public let database: Int

    public init(username: String? = nil, password: Secret? = nil, database: Int = 0) {
        self.username = username
        self.password = password
        self.database = database
    }

    /// The commands a fresh connection runs first, and how they are shown in a step log.
    var setupCommands: (commands: [[String]], shown: String) {
        var commands: [[String]] = []
        var shown: [String] = []
        if let password {
            if let username {
                commands.append(["AUTH", username, password.value])
                shown.append("AUTH \(username) \(Secret.placeholder)")
            } else {
                commands.append(["AUTH", password.value])
                shown.append("AUTH \(Secret.placeholder)")
            }
        }
        if database != 0 {
            commands.append(["SELECT", String(database)])
            shown.append("SELECT \(database)")
        }
        return (commands, shown.joined(separator: " | "))
    }
}
