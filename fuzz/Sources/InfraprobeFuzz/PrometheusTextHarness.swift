import InfraprobeCore

/// The Prometheus text parser on any text, then the lookups the probers run on its samples.
enum PrometheusTextHarness {
    static let harness = Harness(name: "prometheus_text") { bytes in
        let samples = PrometheusText.parse(String(decoding: bytes, as: UTF8.self))
        for sample in samples { _ = (sample.name, sample.labels, sample.value) }
        _ = samples.sum("otelcol_receiver_accepted_spans")
        _ = samples.sum(samples.first?.name ?? "")
    }
}
