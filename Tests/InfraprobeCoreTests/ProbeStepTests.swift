import Foundation
import Testing
@testable import InfraprobeCore
@testable import InfraprobeFakes

/// Steps are recorded as values and turned into text only when read (debug=true, /logs, traces).
@Suite("Probe steps are values, rendered on demand", .serialized)
struct ProbeStepTests {
    @Test func test_httpSteps_areStoredAsValues_notText() async throws {
        let fake = FakeTempo(visibilityDelay: .milliseconds(50))
        try fake.start()
        let outcome = try await ProbeHarness.probe("tempo", ["url: \(fake.url("http"))", "otlp_url: \(fake.url("otlp"))"])
        await fake.stopOffPool()
        #expect(outcome.allUp, "\(outcome.summary)")
        let steps = try #require(outcome.component("trace_query")?.steps)
        #expect(!steps.isEmpty)
        for step in steps {
            guard case .http(let exchange) = step.detail else {
                Issue.record("trace_query recorded text: \(step.text)")
                continue
            }
            #expect(exchange.method == "GET" && exchange.url.contains("/api/v2/traces/"))
            guard case .response(let status, let bytes, let head) = exchange.outcome else { Issue.record("\(exchange)"); continue }
            #expect([200, 404].contains(status))
            #expect(head.count == min(bytes, HTTPExchangeStep.headLimit))
            #expect(step.text.hasPrefix("GET \(fake.url("http"))/api/v2/traces/") && step.text.contains("→ \(status) (\(bytes) B, "),
                    "\(step.text)")
        }
    }

    @Test func test_httpStep_keepsOnlyTheBodysHead_andRedactsAndEscapesOnRender() {
        let body = Array("\u{1B}[31mred\nline".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20)
        let exchange = HTTPExchangeStep(method: "POST", url: "http://user:pa55word@db:8529/_api/x", sentBytes: 12,
                                        elapsed: .microseconds(3_040), status: 500, body: body)
        let step = ProbeStep(offset: .milliseconds(1), detail: .http(exchange))
        #expect(step.estimatedBytes < 1024, "a 1 MiB body must not be kept: \(step.estimatedBytes) B")
        let text = step.text
        #expect(text.hasPrefix("POST http://<secret>@db:8529/_api/x [12 B sent] → 500 (\(body.count) B, 3.0 ms) \\e[31mred line"), "\(text)")
        #expect(!text.contains("pa55word") && !text.contains("\u{1B}"))
        #expect(text.hasSuffix("…"))
        #expect(text.count <= ProbeStep.maxTextLength)

        let failed = ProbeStep(offset: .zero, detail: .http(HTTPExchangeStep(method: "GET", url: "http://h:1/", sentBytes: nil, elapsed: .milliseconds(2),
                                                                              outcome: .failed(.connectionRefused, message: "refused\r\nX-Forged: 1"))))
        #expect(failed.text == "GET http://h:1/ → connection_refused: refused\\r\\nX-Forged: 1 after 2.0 ms")
    }

    @Test func test_redisStep_keepsBoundedReplies_andRendersLikeTheCLI() {
        let big = RedisValue.bulk([UInt8](repeating: UInt8(ascii: "v"), count: 100_000))
        let get = RedisExchangeStep(sent: [["GET", "k"]], shown: "GET k", replies: [big], elapsed: .microseconds(1_234))
        #expect(get.receivedBytes == RESPSize.of(big))
        #expect(get.replies == [.bulk([UInt8](repeating: UInt8(ascii: "v"), count: RedisExchangeStep.bulkBytesShown))])
        let text = ProbeStep(offset: .zero, detail: .redis(get)).text
        #expect(text.hasPrefix("GET k → \"vvv"), "\(text)")
        #expect(text.hasSuffix("\" (20 B sent, 100011 B received, 0.001234s)"), "\(text)")

        let ping = ProbeStep(offset: .zero, detail: .redis(RedisExchangeStep(sent: [["PING"]], shown: "PING", replies: [.status("PONG")],
                                                                          elapsed: .microseconds(250))))
        #expect(ping.text == "PING → PONG (14 B sent, 7 B received, 0.000250s)")

        let auth = RedisExchangeStep(sent: [["AUTH", "u", "hunter2"]], shown: "AUTH u \(Secret.placeholder)", replies: [.status("OK")],
                                     elapsed: .zero)
        #expect(auth.sentBytes == nil, "the size would give away the password's length")
        #expect(!ProbeStep(offset: .zero, detail: .redis(auth)).text.contains("sent"))

        let long = RedisExchangeStep(sent: [["LRANGE", "l", "0", "-1"]], shown: "LRANGE l 0 -1",
                                     replies: [.array((0..<10_000).map { .integer(Int64($0)) })], elapsed: .zero)
        #expect(long.replies.first?.array?.count == RedisExchangeStep.elementLimit + 1, "64 elements and a marker")
    }

    @Test func test_redisSteps_fromARealServer_areStoredAsValues() async throws {
        let redis = try await RedisServer.make()
        let result = await Probe.run(try Probe.redis(redis.address))
        #expect(result.success, "\(result.failureSummary)")
        let exchanges = result.components.flatMap(\.steps).filter { if case .redis = $0.detail { true } else { false } }
        #expect(exchanges.count >= result.components.count)
        #expect(exchanges.map(\.text).contains { $0.hasPrefix("PING | INFO server → PONG | ") && $0.contains(" B sent, ") && $0.contains(" B received, ") },
                "\(exchanges.map(\.text))")
    }

    @Test func test_stepLog_keepsTheFirstAndLatestSteps_pastItsLimit() {
        let context = ComponentContext(component: "c", deadline: .after(.seconds(1)), target: "t",
                                       probe: ProbeScratch(nonce: "n", instanceID: "i", prober: "test", cleanupLedger: CleanupLedger()))
        for index in 0..<1000 { context.step("attempt \(index)") }
        let texts = context.steps.map(\.text)
        #expect(texts.count == StepLog.headLimit + 1 + StepLog.tailLimit)
        #expect(texts.first == "attempt 0" && texts.last == "attempt 999")
        #expect(texts[StepLog.headLimit] == "… 800 steps left out …")
        #expect(texts[StepLog.headLimit + 1] == "attempt 900")
    }

    @Test func test_noteStep_isCutAndEscaped_whenRendered() throws {
        let context = ComponentContext(component: "c", deadline: .after(.seconds(1)), target: "t",
                                       probe: ProbeScratch(nonce: "n", instanceID: "i", prober: "test", cleanupLedger: CleanupLedger()))
        context.step("bell\u{07}" + String(repeating: "x", count: 10_000))
        let step = try #require(context.steps.first)
        #expect(step.estimatedBytes < 1024)
        #expect(step.text.hasPrefix("bell\\u{7}xxx"))
        #expect(step.text.count == ProbeStep.maxTextLength + "\\u{7}".count - 1)
    }

    @Test func test_characterPrefix_isTheFirstCharacters_evenWhereBytesAndCharactersDiffer() {
        let texts = [String(repeating: "SET k v | ", count: 80), "ab\r\ncd", "abc\u{301}def", "é" + String(repeating: "x", count: 20),
                     "xy\r", "xy\r\n", "", "abc", String(repeating: "👍🏽", count: 10), "a\u{301}"]
        for text in texts {
            for count in [0, 1, 2, 3, 4, 5, 512] {
                #expect(text.characterPrefix(count) == String(text.prefix(count)), "\(text.debugDescription) cut at \(count)")
            }
        }
    }
}
