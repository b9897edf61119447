/// One metric family (name, help, type) and its samples, ready to be written in either format.
public struct MetricFamily: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case gauge, counter, histogram
    }

    public struct Sample: Sendable, Equatable {
        /// Appended to the family name: `_total`, `_bucket`, `_sum`, `_count`, or empty.
        public let suffix: String
        public let labels: [Label]
        public let value: Double

        public init(suffix: String = "", labels: [Label], value: Double) {
            self.suffix = suffix
            self.labels = labels
            self.value = value
        }
    }

    public struct Label: Sendable, Equatable, Hashable {
        public let name: String
        public let value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// For counters the name carries no `_total`; writers add it to samples.
    public let name: String
    public let help: String
    public let kind: Kind
    public let unit: String?
    public private(set) var samples: [Sample]

    public init(name: String, help: String, kind: Kind, unit: String? = nil, samples: [Sample] = []) {
        self.name = name
        self.help = help
        self.kind = kind
        self.unit = unit
        self.samples = samples
    }

    public mutating func add(_ labels: [(String, String)], _ value: Double, suffix: String = "") {
        samples.append(Sample(suffix: suffix, labels: labels.map { Label($0.0, $0.1) }, value: value))
    }

    public static func gauge(_ name: String, _ help: String, unit: String? = nil, _ samples: [([(String, String)], Double)]) -> MetricFamily {
        var family = MetricFamily(name: name, help: help, kind: .gauge, unit: unit)
        for (labels, value) in samples { family.add(labels, value) }
        return family
    }

    public static func counter(_ name: String, _ help: String, _ samples: [([(String, String)], Double)]) -> MetricFamily {
        var family = MetricFamily(name: name, help: help, kind: .counter)
        for (labels, value) in samples { family.add(labels, value, suffix: "_total") }
        return family
    }

    /// A histogram from cumulative bucket counts (upper bounds without +Inf), sum and count.
    public mutating func addHistogram(_ labels: [(String, String)], bounds: [Double], cumulativeCounts: [UInt64], sum: Double, count: UInt64) {
        for (bound, bucketCount) in zip(bounds, cumulativeCounts) {
            add(labels + [("le", ExpositionWriter.formatValue(bound))], Double(bucketCount), suffix: "_bucket")
        }
        add(labels + [("le", "+Inf")], Double(count), suffix: "_bucket")
        add(labels, sum, suffix: "_sum")
        add(labels, Double(count), suffix: "_count")
    }
}
