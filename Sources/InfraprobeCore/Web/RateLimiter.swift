import FoundationEssentials
import Glibc

/// exporter-toolkit's `rate_limit`: a token bucket (golang.org/x/time/rate semantics) shared by
/// all requests, refilled with one token per `interval` up to `burst`, starting full. With a
/// burst of 0 nothing passes, as with the toolkit.
public final class RateLimiter: Sendable {
    public let limit: WebConfig.RateLimit
    private struct State {
        var tokens: Double
        var last: ContinuousClock.Instant
    }
    private let state: Locked<State>

    public init(_ limit: WebConfig.RateLimit) {
        self.limit = limit
        state = Locked(State(tokens: Double(limit.burst), last: .now))
    }

    public func allow(now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { state in
            let elapsed = max(0, (now - state.last) / limit.interval)
            state.tokens = min(Double(limit.burst), state.tokens + elapsed)
            state.last = max(state.last, now)
            guard state.tokens >= 1 else { return false }
            state.tokens -= 1
            return true
        }
    }
}
