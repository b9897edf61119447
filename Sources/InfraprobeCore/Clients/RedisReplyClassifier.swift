/// Maps Redis error replies to failure reasons by their error code (the first word).
enum RedisReplyClassifier {
    static func failure(for message: String, command: String) -> ProbeFailure {
        let code = message.split(separator: " ", maxSplits: 1).first.map(String.init) ?? ""
        let text = "\(command.uppercased()): \(message)"
        switch code {
        case "NOAUTH", "WRONGPASS", "NOPERM":
            return ProbeFailure(.auth, text)
        case "LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN":
            return ProbeFailure(.notReady, text)
        case "OOM", "MISCONF":
            return ProbeFailure(.resourceExhausted, text)
        case "ERR" where message.contains("max number of clients"):
            // maxclients reached: the server refuses new connections, old ones keep working.
            return ProbeFailure(.resourceExhausted, text)
        case "ERR" where message.contains("invalid password") || message.contains("AUTH"):
            return ProbeFailure(.auth, text)
        case "ERR" where message.contains("unknown command"):
            return ProbeFailure(.protocol, "\(text) (server too old for this check?)")
        default:
            return ProbeFailure(.unexpectedResponse, text)
        }
    }
}
