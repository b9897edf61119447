// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "infraprobe",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "infraprobe", targets: ["infraprobe"]),
        .library(name: "InfraprobeCore", targets: ["InfraprobeCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        // curl.h's types and constants only: libcurl itself is opened with dlopen on the first HTTP
        // request (CShims/curl.c), so neither a module link nor pkg-config's -lcurl may name it.
        .systemLibrary(name: "CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // No pkgConfig: hiredis.pc carries -D_FILE_OFFSET_BITS=64, which SwiftPM rejects with a warning.
        .systemLibrary(name: "CHiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // Debian's libyaml (libyaml-0-2 at run time): the config's YAML parser, used through Config/YAML only.
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .target(name: "CShims", dependencies: ["CMicroHTTPD", "CCurl", "CHiredis"], linkerSettings: [.linkedLibrary("crypt"), .linkedLibrary("gnutls")]),
        .target(
            name: "InfraprobeCore",
            dependencies: [
                "CMicroHTTPD", "CCurl", "CHiredis", "CZlib", "CYAML", "CShims",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "infraprobe",
            dependencies: [
                "InfraprobeCore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.enableUpcomingFeature("MemberImportVisibility")],
            // Release links with lld (the toolchain's) for two startup costs (issue 13): relative
            // relocations packed as DT_RELR (8 KB instead of ~1 MB of .rela.dyn read at every start;
            // glibc >= 2.36, which build-deb puts in Depends), and the functions a start, an idle
            // exporter and a Redis probe run laid out first (scripts/startup-order.txt, made by
            // scripts/generate-startup-order), so the kernel's 64 KB fault-around maps mostly code
            // that runs instead of its neighbours. Names missing from the binary are skipped.
            linkerSettings: [.unsafeFlags([
                "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
                "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/scripts/startup-order.txt",
                "-Xlinker", "--no-warn-symbol-ordering",
            ], .when(configuration: .release))]
        ),
        // API-faithful fakes of Consul, ArangoDB, Tempo, Grafana and the OTel collector: used by the
        // tests and, through `infraprobe-fakes`, by scripts/bench-all.sh. Not part of any product.
        .target(name: "InfraprobeFakes", dependencies: ["InfraprobeCore"], path: "Tests/Fakes"),
        .executableTarget(name: "infraprobe-fakes", dependencies: ["InfraprobeFakes", "InfraprobeCore"], path: "Tests/FakesServer"),
        // Sets the test run's parallelization width before swift-testing starts (see its .c file).
        .target(name: "TestRunSettings", path: "Tests/TestRunSettings"),
        .testTarget(name: "InfraprobeCoreTests", dependencies: ["InfraprobeCore", "InfraprobeFakes", "TestRunSettings"]),
    ]
)
