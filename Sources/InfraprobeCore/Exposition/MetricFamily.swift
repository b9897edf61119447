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
        /// Written after the value in OpenMetrics only; the classic text format has none.
        public var exemplar: Exemplar? = nil

        public init(suffix: String = "", labels: [Label], value: Double, exemplar: Exemplar? = nil) {
            self.suffix = suffix
            self.labels = labels
            self.value = value
            self.exemplar = exemplar
        }
    }

    /// An OpenMetrics exemplar: the observation that fell into a bucket, with the labels
    /// (a trace id) that lead to where it came from.
    public struct Exemplar: Sendable, Equatable {
        public let labels: [Label]
        public let value: Double
        /// Seconds since the Unix epoch.
        public let timestamp: Double

        public init(labels: [Label], value: Double, timestamp: Double) {
            self.labels = labels
            self.value = value
            self.timestamp = timestamp
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

    public mutating func add(_ labels: [(String, String)], _ value: Double, suffix: String = "", exemplar: Exemplar? = nil) {
        samples.append(Sample(suffix: suffix, labels: labels.map { Label($0.0, $0.1) }, value: value, exemplar: exemplar))
    }

    public mutating func append(_ sample: Sample) {
        samples.append(sample)
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
    /// An exemplar goes on the bucket its value falls into (the lowest bound not below it).
    public mutating func addHistogram(_ labels: [(String, String)], bounds: [Double], cumulativeCounts: [UInt64], sum: Double, count: UInt64,
                                      exemplar: Exemplar? = nil) {
        let exemplarBucket = exemplar.map { exemplar in bounds.firstIndex { exemplar.value <= $0 } ?? bounds.count }
        for (index, (bound, bucketCount)) in zip(bounds, cumulativeCounts).enumerated() {
            add(labels + [("le", ExpositionWriter.formatValue(bound))], Double(bucketCount), suffix: "_bucket",
                exemplar: exemplarBucket == index ? exemplar : nil)
        }
        add(labels + [("le", "+Inf")], Double(count), suffix: "_bucket", exemplar: exemplarBucket == bounds.count ? exemplar : nil)
        add(labels, sum, suffix: "_sum")
        add(labels, Double(count), suffix: "_count")
    }
}
