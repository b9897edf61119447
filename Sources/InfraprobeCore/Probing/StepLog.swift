/// A component's steps, bounded: the first `headLimit` and the latest `tailLimit`, with a count
/// of those left out between, so a check that polls for its whole deadline keeps a fixed size.
struct StepLog: Sendable {
    static let headLimit = 100
    static let tailLimit = 100

    private var head: [ProbeStep] = []
    private var tail: [ProbeStep] = []
    private(set) var omitted = 0

    mutating func append(_ step: ProbeStep) {
        if head.count < Self.headLimit { head.append(step); return }
        if tail.count == Self.tailLimit {
            tail.removeFirst()
            omitted += 1
        }
        tail.append(step)
    }

    var steps: [ProbeStep] {
        guard omitted > 0, let firstKept = tail.first else { return head + tail }
        return head + [ProbeStep(offset: firstKept.offset, text: "… \(omitted) steps left out …")] + tail
    }
}
