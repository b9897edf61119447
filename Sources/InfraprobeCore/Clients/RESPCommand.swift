/// Commands in RESP2's request form: an array of bulk strings, binary-safe.
enum RESPCommand {
    static func encode(_ commands: [[String]]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(commands.reduce(0) { $0 + RESPSize.of(command: $1) })
        for arguments in commands {
            bytes.append(contentsOf: "*\(arguments.count)\r\n".utf8)
            for argument in arguments {
                bytes.append(contentsOf: "$\(argument.utf8.count)\r\n".utf8)
                bytes.append(contentsOf: argument.utf8)
                bytes.append(contentsOf: "\r\n".utf8)
            }
        }
        return bytes
    }
}
