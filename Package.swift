// swift-tools-version:6.0
import PackageDescription

// Release builds of the hot loops want the optimiser to drop bounds checks inside unsafe-pointer code;
// the portable baseline (x86-64 without FMA) stays the default so the binary runs on any x86-64 machine.
let package = Package(
    name: "SVGNet",
    products: [
        .library(name: "Kernels", targets: ["Kernels"]),
        .library(name: "SVGNet", targets: ["SVGNet"]),
        .library(name: "SVGData", targets: ["SVGData"]),
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
        // Image and archive codecs come from Debian's libraries; no codec is written by hand here.
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CGIF", path: "Sources/CGIF", providers: [.apt(["libgif-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "Kernels", dependencies: ["COpenBLAS"]),
        .target(
            name: "SVGData",
            dependencies: ["Kernels", "CPNG", "CGIF", "CZlib"],
            resources: [.copy("Resources/mnist")]
        ),
        .target(name: "SVGNet", dependencies: ["Kernels"]),
        .executableTarget(
            name: "svgnet",
            dependencies: ["SVGNet", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(name: "svgnet-bench", dependencies: ["Kernels", "SVGNet"], path: "Benchmarks/svgnet-bench"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels"]),
        .testTarget(name: "SVGNetTests", dependencies: ["SVGNet"]),
        .testTarget(name: "SVGDataTests", dependencies: ["SVGData", "Kernels", "CGIF", "CZlib"]),
    ]
)
