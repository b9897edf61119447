import FoundationEssentials
import Glibc

/// The landing page rendered at most once per `maxAge`, however many ask at once. Its cost grows
/// with the history and the module-probed addresses, and renders run on the cooperative pool
/// the probes share, so dozens of browsers (or a script) asking at once must cost one render.
/// A page is reused only while the service's `revision` is unchanged (no probe finished, no
/// reload), so a probe's result shows on the next load. Each page number is cached on its own;
/// at most `pageLimit` of them are kept.
final class LandingPageCache: Sendable {
    private struct State {
        var pages: [Int: (rendered: ContinuousClock.Instant, revision: Int, html: String)] = [:]
        var rendering: [Int: Task<String, Never>] = [:]
    }

    private enum Next {
        case ready(String)
        case wait(Task<String, Never>)
    }

    let maxAge: Duration
    static let pageLimit = 32
    private let state = Locked(State())

    init(maxAge: Duration = .seconds(1)) { self.maxAge = maxAge }

    func page(_ number: Int = 1, revision: Int, render: @escaping @Sendable () -> String) async -> String {
        let next = state.withLock { state -> Next in
            if let page = state.pages[number], page.revision == revision, ContinuousClock.now - page.rendered < maxAge { return .ready(page.html) }
            if let rendering = state.rendering[number] { return .wait(rendering) }
            let task = Task { [self] in
                let html = render()
                self.state.withLock { state in
                    let now = ContinuousClock.now
                    state.pages = state.pages.filter { $0.value.revision == revision && now - $0.value.rendered < maxAge }
                    if state.pages.count >= Self.pageLimit { state.pages.removeAll() }
                    state.pages[number] = (now, revision, html)
                    state.rendering[number] = nil
                }
                return html
            }
            state.rendering[number] = task
            return .wait(task)
        }
        switch next {
        case .ready(let html): return html
        case .wait(let task): return await task.value
        }
    }
}
