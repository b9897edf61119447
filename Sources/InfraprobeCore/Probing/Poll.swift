/// Retries `attempt` until it returns true, backing off from 20 ms, while the deadline allows.
func poll(_ context: ComponentContext, what: String, _ attempt: () async throws -> Bool) async throws {
    var delay: Duration = .milliseconds(20)
    while true {
        if try await attempt() { return }
        guard context.deadline.remaining > delay else {
            throw ProbeFailure(.timeout, "\(what) not seen before the deadline")
        }
        try await Task.sleep(for: delay)
        delay = min(delay * 2, .milliseconds(500))
    }
}
