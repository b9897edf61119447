import Foundation

/// The landing page rendered at most once per `maxAge`, however many ask at once. Its cost grows
/// with the history and the module-probed addresses, and renders run on the cooperative pool
/// the probes share, so dozens of browsers (or a script) asking at once must cost one render.
/// A page is reused only while the service's `revision` is unchanged (no probe finished, no
/// reload), so a probe's result shows on the next load.
final class LandingPageCache: Sendable {
    private struct State {
        var page: (rendered: ContinuousClock.Instant, revision: Int, html: String)?
        var rendering: Task<String, Never>?
    }

    private enum Next {
        case ready(String)
        case wait(Task<String, Never>)
    }

    let maxAge: Duration
    private let state = Locked(State())

    init(maxAge: Duration = .seconds(1)) { self.maxAge = maxAge }

    func page(revision: Int, render: @escaping @Sendable () -> String) async -> String {
        let next = state.withLock { state -> Next in
            if let page = state.page, page.revision == revision, ContinuousClock.now - page.rendered < maxAge { return .ready(page.html) }
            if let rendering = state.rendering { return .wait(rendering) }
            let task = Task { [self] in
                let html = render()
                self.state.withLock { state in
                    state.page = (ContinuousClock.now, revision, html)
                    state.rendering = nil
                }
                return html
            }
            state.rendering = task
            return .wait(task)
        }
        switch next {
        case .ready(let html): return html
        case .wait(let task): return await task.value
        }
    }
}
