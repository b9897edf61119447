/// One event of libyaml's parser, in Swift types: the composer's only view of the C library.
struct YAMLEvent {
    enum Kind {
        case streamStart
        case streamEnd
        case documentStart
        case documentEnd
        case scalar(String, style: YAMLNode.Scalar.Style, tag: String?, anchor: String?)
        case alias(String)
        case sequenceStart(tag: String?, anchor: String?)
        case sequenceEnd
        case mappingStart(tag: String?, anchor: String?)
        case mappingEnd
    }

    let kind: Kind
    /// Where the event starts.
    let mark: YAMLNode.Mark
}
