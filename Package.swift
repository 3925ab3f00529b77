// swift-tools-version:6.0
import PackageDescription

// Release builds of the hot loops want the optimiser to drop bounds checks inside unsafe-pointer code;
// the portable baseline (x86-64 without FMA) stays the default so the binary runs on any x86-64 machine.
let package = Package(
    name: "SVGNet",
    products: [
        .library(name: "Kernels", targets: ["Kernels"]),
        .library(name: "SVGNet", targets: ["SVGNet"]),
        .executable(name: "svgnet", targets: ["svgnet"]),
        .executable(name: "svgnet-bench", targets: ["svgnet-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            path: "Sources/COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        // The kernels are optimised even in debug builds: the numerical tests run whole training steps,
        // and unoptimised pointer loops are ~50× slower. Bounds and overflow checks stay on (-O, not -Ounchecked).
        .target(name: "Kernels", dependencies: ["COpenBLAS"], swiftSettings: [.unsafeFlags(["-O"])]),
        .target(name: "SVGNet", dependencies: ["Kernels"]),
        .executableTarget(
            name: "svgnet",
            dependencies: ["SVGNet", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(name: "svgnet-bench", dependencies: ["Kernels", "SVGNet"], path: "Benchmarks/svgnet-bench"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels"]),
        .target(name: "CHeapStats", path: "Sources/CHeapStats"),
        .testTarget(name: "SVGNetTests", dependencies: ["SVGNet", "CHeapStats"]),
    ]
)
