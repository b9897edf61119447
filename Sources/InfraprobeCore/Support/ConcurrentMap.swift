extension Collection where Self: Sendable, Element: Sendable {
    /// `body` applied to every element with at most `maxConcurrent` running at once; results in
    /// the collection's order. Fan-outs over lists a service returns use it, so a service that
    /// lists thousands of entries costs a bounded number of tasks, connections and threads.
    func concurrentMap<Result: Sendable>(maxConcurrent: Int,
                                         _ body: @escaping @Sendable (Element) async throws -> Result) async throws -> [Result] {
        precondition(maxConcurrent > 0)
        let items = Array(self)
        return try await withThrowingTaskGroup(of: (Int, Result).self) { group in
            var results = [Result?](repeating: nil, count: items.count)
            var next = 0
            func startNext() {
                let index = next
                next += 1
                group.addTask { (index, try await body(items[index])) }
            }
            while next < items.count && next < maxConcurrent { startNext() }
            while let (index, result) = try await group.next() {
                results[index] = result
                if next < items.count { startNext() }
            }
            return results.map { $0! }
        }
    }

    /// The non-throwing form.
    func concurrentMap<Result: Sendable>(maxConcurrent: Int,
                                         _ body: @escaping @Sendable (Element) async -> Result) async -> [Result] {
        precondition(maxConcurrent > 0)
        let items = Array(self)
        return await withTaskGroup(of: (Int, Result).self) { group in
            var results = [Result?](repeating: nil, count: items.count)
            var next = 0
            func startNext() {
                let index = next
                next += 1
                group.addTask { (index, await body(items[index])) }
            }
            while next < items.count && next < maxConcurrent { startNext() }
            while let (index, result) = await group.next() {
                results[index] = result
                if next < items.count { startNext() }
            }
            return results.map { $0! }
        }
    }
}
