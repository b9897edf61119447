/// Sees a probe's components as they finish, so a scrape can be answered at its own deadline
/// from what is known by then (`SharedProbe`).
protocol ProbeProgress: Sendable {
    func began(scratch: ProbeScratch)
    func finished(_ result: ComponentResult)
}
