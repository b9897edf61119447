// swift-tools-version:6.2
import PackageDescription

// libFuzzer harnesses for every parser that reads outside input. A separate package so the main
// package's `swift build`/`swift test` never see the fuzzer flags; built by scripts/fuzz with
// `-sanitize=fuzzer,address -parse-as-library` (libFuzzer supplies `main`).
let package = Package(
    name: "infraprobe-fuzz",
    dependencies: [
        .package(name: "infraprobe", path: ".."),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "infraprobe-fuzz",
            dependencies: [
                .product(name: "InfraprobeCore", package: "infraprobe"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/InfraprobeFuzz"
        ),
    ]
)
