// swift-tools-version:6.0
import PackageDescription

// The portable baseline (x86-64 without FMA) is the default so the binary runs on any x86-64 machine.
let package = Package(
    name: "SVGNet",
    products: [
        .library(name: "Kernels", targets: ["Kernels"]),
        .library(name: "SVGNet", targets: ["SVGNet"]),
        .library(name: "SVGData", targets: ["SVGData"]),
        .executable(name: "svgnet", targets: ["svgnet"]),
        .executable(name: "svgnet-bench", targets: ["svgnet-bench"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Reads the KTH zips (`svgnet data kth`); pure Swift over zlib. It computes each entry's CRC-32 without
        // comparing it, so KTHConversion compares it.
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20")
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
        // The KTH videos are AVI files whose codec their names do not promise (the "_uncomp" files may hold
        // MPEG-4): FFmpeg decodes whatever they hold. pkg-config "libavformat" gives the include path; the module map links all four.
        .systemLibrary(
            name: "CFFmpeg",
            path: "Sources/CFFmpeg",
            pkgConfig: "libavformat",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"])]
        ),
        // Data-parallel training over MPI (Docs/SCALING.md). A required dependency, installed by `make setup`:
        // one build and one binary for everyone, every test runs in CI, and a process not started by mpirun
        // never calls MPI_Init, so it behaves exactly as without MPI.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        // Not named CZlib: ZIPFoundation's own zlib module map takes that name, and module names must be unique.
        .systemLibrary(name: "CSystemZlib", path: "Sources/CSystemZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // The kernels and the schedule are optimised even in debug builds: the numerical tests run whole
        // training steps, unoptimised pointer loops are ~50× slower, and unspecialised generic iteration
        // allocates, which would hide whether a step really allocates nothing. Bounds and overflow checks
        // stay on (-O, not -Ounchecked).
        .target(name: "Kernels", dependencies: ["COpenBLAS"], swiftSettings: [.unsafeFlags(["-O"])]),
        .target(
            name: "SVGData",
            dependencies: ["Kernels", "CPNG", "CGIF", "CSystemZlib", "CFFmpeg", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            resources: [.copy("Resources/mnist")]
        ),
        .target(name: "SVGNet", dependencies: ["Kernels"], swiftSettings: [.unsafeFlags(["-O"])]),
        .executableTarget(
            name: "svgnet",
            dependencies: ["Kernels", "SVGNet", "SVGData", "CMPI", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "svgnet-bench", dependencies: ["Kernels", "SVGNet", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/svgnet-bench"),
        // Fuzz targets (Fuzz/, `make fuzz`): each replays files through its parser in a normal build, and is
        // libFuzzer's target when built with -DFUZZING -parse-as-library -sanitize=fuzzer,address.
        .target(name: "FuzzSupport", path: "Fuzz/Support"),
        .executableTarget(name: "fuzz-safetensors", dependencies: ["FuzzSupport", "SVGNet"], path: "Fuzz/fuzz-safetensors"),
        .executableTarget(name: "fuzz-npy", dependencies: ["FuzzSupport", "SVGData"], path: "Fuzz/fuzz-npy"),
        .executableTarget(name: "fuzz-idx", dependencies: ["FuzzSupport", "SVGData"], path: "Fuzz/fuzz-idx"),
        .executableTarget(name: "fuzz-png", dependencies: ["FuzzSupport", "SVGData"], path: "Fuzz/fuzz-png"),
        .executableTarget(name: "fuzz-gzip", dependencies: ["FuzzSupport", "SVGData"], path: "Fuzz/fuzz-gzip"),
        .executableTarget(name: "fuzz-tfrecord", dependencies: ["FuzzSupport", "SVGData"], path: "Fuzz/fuzz-tfrecord"),
        .executableTarget(name: "fuzz-avi", dependencies: ["FuzzSupport", "SVGData"], path: "Fuzz/fuzz-avi"),
        // Test-only: counts heap allocations so the schedule tests can prove a step allocates nothing.
        .target(name: "CHeapStats", path: "Sources/CHeapStats"),
        // Test-only: the suites' shared random generator, and writers of the converters' inputs (TFRecord files,
        // tf.train.Example messages, AVI videos) built independently of the readers (test targets cannot share
        // source files).
        .target(name: "TestSupport", dependencies: ["Kernels", "CFFmpeg"], path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"]),
        .testTarget(name: "SVGNetTests", dependencies: ["SVGNet", "CHeapStats", "TestSupport"]),
        .testTarget(name: "SVGDataTests", dependencies: ["SVGData", "Kernels", "CGIF", "CSystemZlib", "TestSupport"]),
        // Runs the built `svgnet` binary as a child process; depending on the executable makes SwiftPM build it first.
        .testTarget(
            name: "svgnetTests",
            dependencies: [
                .target(name: "svgnet"), "SVGData", "SVGNet", "Kernels", "TestSupport",
                .product(name: "ZIPFoundation", package: "ZIPFoundation")
            ]
        )
    ]
)
