import Testing
@testable import InfraprobeCore

@Suite("Prometheus text parser")
struct PrometheusTextTests {
    func sample(_ name: String, _ labels: [String: String], _ value: Double) -> PrometheusSample {
        PrometheusSample(name: name, labels: labels, value: value)
    }

    func sample(_ name: String, _ value: Double) -> PrometheusSample { sample(name, [:], value) }

    @Test func test_prometheusText_readsSamples_skippingHelpTypeAndComments() {
        let samples = PrometheusText.parse("""
            # HELP otelcol_receiver_accepted_spans Spans accepted.
            # TYPE otelcol_receiver_accepted_spans counter
            otelcol_receiver_accepted_spans{receiver="otlp",transport="http"} 12 1712000000000

            plain 3
            """)
        #expect(samples == [sample("otelcol_receiver_accepted_spans", ["receiver": "otlp", "transport": "http"], 12), sample("plain", 3)])
    }

    @Test func test_prometheusText_skipsAnUnreadableLine_insteadOfFailingTheBody() {
        let samples = PrometheusText.parse("good 1\nthis is not a sample\nbroken{a=\"x} 2\nno_value\n1leading_digit 4\ndup{a=\"1\",a=\"2\"} 5\nalso_good 2\n")
        #expect(samples == [sample("good", 1), sample("also_good", 2)])
    }

    @Test func test_prometheusText_acceptsTabsAndCRLF() {
        let samples = PrometheusText.parse("a{l=\"v\"}\t1\t1712000000000\r\n\tb 2\r\n")
        #expect(samples == [sample("a", ["l": "v"], 1), sample("b", 2)])
    }

    @Test func test_prometheusText_ignoresExemplars() {
        let samples = PrometheusText.parse("""
            h_bucket{le="0.1"} 8 # {trace_id="abc"} 0.05 1520879607.789
            h_count 9 1520879607789 # {trace_id="def"} 1
            """)
        #expect(samples == [sample("h_bucket", ["le": "0.1"], 8), sample("h_count", 9)])
    }

    @Test func test_prometheusText_stopsAtEOF() {
        #expect(PrometheusText.parse("a 1\n# EOF\nb 2\n") == [sample("a", 1)])
        #expect(PrometheusText.parse("a 1\n# EOFX 1\nb 2\n") == [sample("a", 1), sample("b", 2)])
    }

    @Test func test_prometheusText_readsQuotedUTF8Names() {
        let samples = PrometheusText.parse("""
            {"my.metric", "my.label"="v", le="1"} 1.5e3
            {le="2", "second.metric"} 2
            legacy_name{"quoted.label"="x",} 3
            "quoted.outside"{a="b"} 4
            {"ünïcode 📈"} 5
            """)
        #expect(samples == [
            sample("my.metric", ["my.label": "v", "le": "1"], 1500), sample("second.metric", ["le": "2"], 2),
            sample("legacy_name", ["quoted.label": "x"], 3), sample("quoted.outside", ["a": "b"], 4), sample("ünïcode 📈", 5),
        ])
        // Two names, or a name given before the brace and again inside, are unreadable.
        #expect(PrometheusText.parse("{\"a\", \"b\"} 1\nm{\"c\"} 1\n{l=\"v\"} 1\n").isEmpty)
    }

    @Test func test_prometheusText_unescapesLabelValues() {
        let samples = PrometheusText.parse(#"m{a="q\"b\\s\nn"} 1"#)
        #expect(samples.first?.labels["a"] == "q\"b\\s\nn")
    }

    @Test func test_prometheusText_readsSpecialValues_andRefusesGarbageValues() {
        let samples = PrometheusText.parse("a +Inf\nb -Inf\nc NaN\nd 1e999\ne 0x10\nf abc\ng 1 2 3\nh 1 notatime\n")
        #expect(samples.map(\.name) == ["a", "b", "c", "d", "e"])
        #expect(samples[0].value == .infinity && samples[1].value == -.infinity && samples[2].value.isNaN)
        #expect(samples[3].value == .infinity && samples[4].value == 16)
    }

    @Test func test_prometheusTextSum_addsSeries_acceptingTheTotalSuffix() {
        let samples = PrometheusText.parse("x{a=\"1\"} 1\nx_total{a=\"2\"} 2\ny 5\n")
        #expect(samples.sum("x") == 3)
        #expect(samples.sum("z") == nil)
    }
}
