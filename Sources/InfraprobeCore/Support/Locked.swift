/// A value guarded by a pthread mutex. Not `Synchronization.Mutex`: TSan on Linux reports false races on it.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = PthreadLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    @discardableResult
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    public var current: Value { withLock { $0 } }
}
