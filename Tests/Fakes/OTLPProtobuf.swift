import Foundation
import InfraprobeCore

/// The protobuf wire format of OTLP export requests (opentelemetry-proto
/// `collector/{trace,metrics}/v1/*_service.proto`), decoded into the OTLP/JSON shape the fakes
/// already handle (hex ids, `stringValue` attributes), so a fake accepts
/// `application/x-protobuf` as the real receivers do. Only the fields the fakes read are kept;
/// every other field is skipped by wire type, as a proto3 parser does with unknown fields.
enum OTLPProtobuf {
    struct DecodeError: Error, CustomStringConvertible {
        let description: String
    }

    /// One protobuf message: a cursor over its bytes.
    struct Reader {
        let bytes: ArraySlice<UInt8>
        var index: Int

        init(_ bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            index = bytes.startIndex
        }

        var atEnd: Bool { index >= bytes.endIndex }

        mutating func varint() throws -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard index < bytes.endIndex else { throw DecodeError(description: "proto: unexpected end of varint") }
                let byte = bytes[index]
                index += 1
                guard shift < 64 else { throw DecodeError(description: "proto: varint overflow") }
                value |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
        }

        mutating func fixed(_ count: Int) throws -> ArraySlice<UInt8> {
            guard bytes.endIndex - index >= count else { throw DecodeError(description: "proto: unexpected end of fixed field") }
            defer { index += count }
            return bytes[index..<index + count]
        }

        mutating func lengthDelimited() throws -> ArraySlice<UInt8> {
            let length = try varint()
            guard length <= UInt64(bytes.endIndex - index) else { throw DecodeError(description: "proto: length \(length) past the end of the message") }
            return try fixed(Int(length))
        }

        /// The next field: its number and, for length-delimited fields, its bytes (other wire
        /// types are read and dropped, except varints, whose value is returned).
        mutating func field() throws -> (number: UInt64, bytes: ArraySlice<UInt8>?, varint: UInt64?)? {
            guard !atEnd else { return nil }
            let key = try varint()
            let number = key >> 3
            guard number > 0 else { throw DecodeError(description: "proto: illegal field number 0") }
            switch key & 7 {
            case 0: return (number, nil, try varint())
            case 1: _ = try fixed(8); return (number, nil, nil)
            case 2: return (number, try lengthDelimited(), nil)
            case 5: _ = try fixed(4); return (number, nil, nil)
            default: throw DecodeError(description: "proto: unsupported wire type \(key & 7)")
            }
        }
    }

    static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func string(_ bytes: ArraySlice<UInt8>) throws -> String {
        guard let text = String(bytes: Array(bytes), encoding: .utf8) else { throw DecodeError(description: "proto: string field is not valid UTF-8") }
        return text
    }

    /// `KeyValue{1: key, 2: AnyValue{1: string_value, …}}`; non-string values are kept as their text.
    static func keyValue(_ bytes: ArraySlice<UInt8>) throws -> JSONValue {
        var reader = Reader(bytes)
        var key = ""
        var value: JSONValue = [:]
        while let field = try reader.field() {
            switch (field.number, field.bytes) {
            case (1, let data?): key = try string(data)
            case (2, let data?):
                var any = Reader(data)
                while let inner = try any.field() {
                    if inner.number == 1, let text = inner.bytes { value = ["stringValue": .string(try string(text))] }
                    if inner.number == 2, let flag = inner.varint { value = ["boolValue": .bool(flag != 0)] }
                    if inner.number == 3, let number = inner.varint { value = ["intValue": .string(String(Int64(bitPattern: number)))] }
                }
            default: break
            }
        }
        return ["key": .string(key), "value": value]
    }

    /// `Resource{1: attributes}` (also `InstrumentationScope`'s attributes are not needed).
    static func resource(_ bytes: ArraySlice<UInt8>) throws -> JSONValue {
        var reader = Reader(bytes)
        var attributes: [JSONValue] = []
        while let field = try reader.field() {
            if field.number == 1, let data = field.bytes { attributes.append(try keyValue(data)) }
        }
        return ["attributes": .array(attributes)]
    }

    /// `ExportTraceServiceRequest{1: ResourceSpans{1: Resource, 2: ScopeSpans{1: scope, 2: Span}}}`.
    /// Span: 1 trace_id, 2 span_id, 5 name, 9 attributes. Ids must be 16 and 8 bytes, as pdata requires.
    static func traces(_ body: [UInt8]) throws -> JSONValue {
        var request = Reader(body[...])
        var resourceSpans: [JSONValue] = []
        while let field = try request.field() {
            guard field.number == 1, let data = field.bytes else { continue }
            var resourceReader = Reader(data)
            var resourceJSON: JSONValue = ["attributes": []]
            var scopes: [JSONValue] = []
            while let inner = try resourceReader.field() {
                switch (inner.number, inner.bytes) {
                case (1, let data?): resourceJSON = try resource(data)
                case (2, let data?):
                    var scopeReader = Reader(data)
                    var spans: [JSONValue] = []
                    while let spanField = try scopeReader.field() {
                        guard spanField.number == 2, let spanData = spanField.bytes else { continue }
                        spans.append(try span(spanData))
                    }
                    scopes.append(["scope": [:], "spans": .array(spans)])
                default: break
                }
            }
            resourceSpans.append(["resource": resourceJSON, "scopeSpans": .array(scopes)])
        }
        return ["resourceSpans": .array(resourceSpans)]
    }

    static func span(_ bytes: ArraySlice<UInt8>) throws -> JSONValue {
        var reader = Reader(bytes)
        var span: [String: JSONValue] = [:]
        var attributes: [JSONValue] = []
        while let field = try reader.field() {
            switch (field.number, field.bytes) {
            case (1, let data?):
                guard data.count == 16 else { throw DecodeError(description: "invalid length for ID") }
                span["traceId"] = .string(hex(data))
            case (2, let data?):
                guard data.count == 8 else { throw DecodeError(description: "invalid length for ID") }
                span["spanId"] = .string(hex(data))
            case (5, let data?): span["name"] = .string(try string(data))
            case (9, let data?): attributes.append(try keyValue(data))
            default: break
            }
        }
        span["attributes"] = .array(attributes)
        return .object(span)
    }

    /// `ExportMetricsServiceRequest{1: ResourceMetrics{2: ScopeMetrics{2: Metric}}}`; each metric's
    /// points (gauge 5, sum 7, histogram 9, exponential histogram 10, summary 11; data_points 1)
    /// become empty objects under `gauge.dataPoints`, which is all the collector fake counts.
    static func metricPointCounts(_ body: [UInt8]) throws -> JSONValue {
        var request = Reader(body[...])
        var resources: [JSONValue] = []
        while let field = try request.field() {
            guard field.number == 1, let data = field.bytes else { continue }
            var resourceReader = Reader(data)
            var scopes: [JSONValue] = []
            while let inner = try resourceReader.field() {
                guard inner.number == 2, let scopeData = inner.bytes else { continue }
                var scopeReader = Reader(scopeData)
                var metrics: [JSONValue] = []
                while let metricField = try scopeReader.field() {
                    guard metricField.number == 2, let metricData = metricField.bytes else { continue }
                    var metricReader = Reader(metricData)
                    var points = 0
                    while let kind = try metricReader.field() {
                        guard [5, 7, 9, 10, 11].contains(kind.number), let kindData = kind.bytes else { continue }
                        var pointsReader = Reader(kindData)
                        while let point = try pointsReader.field() {
                            if point.number == 1 && point.bytes != nil { points += 1 }
                        }
                    }
                    metrics.append(["gauge": ["dataPoints": .array(Array(repeating: [:], count: points))]])
                }
                scopes.append(["metrics": .array(metrics)])
            }
            resources.append(["scopeMetrics": .array(scopes)])
        }
        return ["resourceMetrics": .array(resources)]
    }

    /// `google.rpc.Status{1: code, 2: message}`, the error body of a protobuf request.
    static func status(code: Int, message: String) -> [UInt8] {
        var out: [UInt8] = [0x08]
        out += varint(UInt64(code))
        let text = Array(message.utf8)
        out.append(0x12)
        out += varint(UInt64(text.count))
        return out + text
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        repeat {
            var byte = UInt8(value & 0x7f)
            value >>= 7
            if value != 0 { byte |= 0x80 }
            out.append(byte)
        } while value != 0
        return out
    }
}
