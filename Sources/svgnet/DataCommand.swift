// svgnet data mmnist: a fixed Moving MNIST set as uint8 (T, N, 64, 64), the layout of the public
// mnist_test_seq.npy, drawn from the held-out digits.
// svgnet data kth / data bair: the KTH and BAIR downloads converted to the PNG folders kth:DIR and bair:DIR
// read (SVGData's KTHConversion and BAIRConversion). The output is built under a hidden name beside --out
// and renamed at the end, so --out is either complete or absent; an error or Ctrl-C removes the partial copy.
import ArgumentParser
import Foundation
import Kernels
import SVGData

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "data", abstract: "Write datasets to files.", subcommands: [MMNIST.self, KTH.self, BAIR.self])

    struct MMNIST: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "mmnist", abstract: "A fixed Moving MNIST set, uint8 (T, N, 64, 64).")
        @Option(help: "Sequences N.") var sequences: Int = 100
        @Option(help: "Frames per sequence T.") var length: Int = 20
        @OptionGroup var movingMNIST: MovingMNISTOptions
        @OptionGroup var runOptions: RunOptions
        @Option(help: "Output .npy file.") var out: String

        func run() throws {
            try runOptions.apply()
            try positive(sequences, "--sequences"); try positive(length, "--length")
            var options = try DataOptions.parse([]) // every field parsed (defaults); a bare DataOptions() traps on first use
            options.movingMNIST = movingMNIST
            let source = try VideoSource(options, length: length, needTrain: false)
            // (T, N, 1, 64, 64) is exactly (T, N, 64, 64).
            let frames = try source.testBatch(first: 0, count: sequences, seed: runOptions.seed)
            do { try NPY.writeUInt8(out, shape: [length, sequences, 64, 64], values: frames) } catch { throw CLIError("\(error)") }
            print("wrote \(out): uint8 (\(length), \(sequences), 64, 64)")
        }
    }

    struct KTH: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kth", abstract: "KTH actions (the six <action>.zip files, or their .avi files) → kth:DIR's PNG folders.")
        @OptionGroup var folders: ConversionFolders

        func run() throws {
            let summary = try convert(into: folders.out) { staging, isCancelled -> KTHConversion.Summary in
                printProgress("KTH from \(folders.from) into \(folders.out)") // after --out was checked
                return try KTHConversion.convert(from: folders.from, into: staging, progress: printProgress, isCancelled: isCancelled)
            }
            func part(_ split: DataSplit) -> String {
                let persons = KTHDataset.persons(split)
                return "\(split.rawValue) (persons \(persons.lowerBound)–\(persons.upperBound)) \(count(summary.videos[split] ?? 0, "video")), "
                    + count(summary.frames[split] ?? 0, "frame")
            }
            let videos = summary.videos.values.reduce(0, +), frames = summary.frames.values.reduce(0, +)
            let actions = KTHConversion.actions.map { "\($0) \(summary.videosPerAction[$0] ?? 0)" }.joined(separator: ", ")
            print(
                "wrote \(folders.out): \(count(videos, "video")), \(count(frames, "frame")); \(part(.train)); \(part(.test)); "
                    + "videos per action: \(actions); train on it with --data kth:\(folders.out)")
        }
    }

    struct BAIR: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bair", abstract: "BAIR robot pushing (softmotion30_44k/{train,test}/*.tfrecords) → bair:DIR's PNG folders.")
        @OptionGroup var folders: ConversionFolders

        func run() throws {
            let summary = try convert(into: folders.out) { staging, isCancelled -> BAIRConversion.Summary in
                printProgress("BAIR from \(folders.from) into \(folders.out)") // after --out was checked
                return try BAIRConversion.convert(from: folders.from, into: staging, progress: printProgress, isCancelled: isCancelled)
            }
            func part(_ split: DataSplit) -> String {
                "\(split.rawValue) \(count(summary.records[split] ?? 0, "sequence")) (\(count(summary.frames(split), "frame")), "
                    + "\(count(summary.files[split] ?? 0, "file")))"
            }
            print("wrote \(folders.out): \(part(.train)), \(part(.test)); train on it with --data bair:\(folders.out)")
        }
    }
}

/// --from and --out of the converters.
struct ConversionFolders: ParsableArguments {
    @Option(help: "The downloaded dataset's folder.") var from: String
    @Option(help: "The folder to create (must not exist, or be empty).") var out: String

    func validate() throws {
        let source = URL(fileURLWithPath: from).standardized.path, destination = URL(fileURLWithPath: out).standardized.path
        if source == destination { throw ValidationError("--out must be a new folder, not the --from folder") }
    }
}

/// Runs a conversion into a temporary folder that becomes `out` when it succeeds (`writeFolderAtomically`),
/// with Ctrl-C checked between frames: on an error or an interrupt the temporary folder is removed.
private func convert<Summary>(into out: String, _ body: (_ staging: String, _ isCancelled: () -> Bool) throws -> Summary) throws -> Summary {
    interruptRequested = 0
    signal(SIGINT) { _ in interruptRequested = 1 }
    defer { signal(SIGINT, SIG_DFL) }
    do {
        return try writeFolderAtomically(to: out) { staging in try body(staging) { interruptRequested != 0 } }
    } catch is ConversionInterrupted {
        FileHandle.standardError.write(Data("interrupted: nothing written to \(out)\n".utf8))
        throw ExitCode(130)
    } catch let error as DataError {
        throw CLIError("\(error)")
    }
}

/// "1 video", "2 videos".
private func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

/// One line per converted file, flushed so a pipe shows it at once.
private func printProgress(_ line: String) {
    print(line)
    fflush(nil)
}
