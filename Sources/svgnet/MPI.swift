// The processes of an `mpirun -np N svgnet …` launch (Docs/SCALING.md). A process that mpirun did not
// start with N ≥ 2 never calls MPI_Init: `MPIWorld.replicas` is nil and every command runs as one process.
// All MPI calls come from the main thread (the engine's worker threads never make one).
import CMPI
import Foundation
import Kernels

/// The MPI_COMM_WORLD of an mpirun launch as the engine's replica group.
final class MPIWorld: ReplicaGroup {
    let rank: Int
    let count: Int
    private let comm: MPI_Comm

    /// Ranks in the launch as Open MPI's mpirun announces them to every process it starts (1 without mpirun).
    static var launchSize: Int { ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"].flatMap(Int.init) ?? 1 }
    /// This process's rank in the launch (0 without mpirun).
    static var launchRank: Int { ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"].flatMap(Int.init) ?? 0 }
    /// Ranks of the launch on this host: the default --threads divides the cores among them.
    static var ranksOnThisHost: Int { ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1 }

    /// The launch's ranks, initialised on first use; nil when this process was not started by mpirun with
    /// two or more ranks.
    nonisolated(unsafe) static let replicas: MPIWorld? = {
        let size = launchSize
        guard size > 1 else { return nil }
        var provided: Int32 = 0
        // Only the main thread calls MPI (FUNNELED); the engine's worker threads never do.
        guard MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided) == MPI_SUCCESS, provided >= Int32(MPI_THREAD_FUNNELED) else {
            FileHandle.standardError.write(Data("error: MPI_Init_thread did not give MPI_THREAD_FUNNELED\n".utf8))
            exit(1)
        }
        let comm = svgnet_mpi_comm_world()!
        var rank: Int32 = 0, count: Int32 = 0
        MPI_Comm_rank(comm, &rank)
        MPI_Comm_size(comm, &count)
        let world = MPIWorld(rank: Int(rank), count: Int(count), comm: comm)
        started = world
        return world
    }()
    nonisolated(unsafe) private static var started: MPIWorld?
    nonisolated(unsafe) private static var finished = false

    private init(rank: Int, count: Int, comm: MPI_Comm) { self.rank = rank; self.count = count; self.comm = comm }

    func sum(_ values: UnsafeMutablePointer<Double>, count n: Int) { allreduce(values, n, svgnet_mpi_double()) }
    func sum(_ values: UnsafeMutablePointer<Float>, count n: Int) { allreduce(values, n, svgnet_mpi_float()) }

    /// Seconds spent inside MPI_Allreduce (waiting for the slowest rank included), for Scripts/scaling.sh:
    /// the largest call (the gradient) and all the others.
    private(set) var largestCallSeconds = 0.0, otherCallsSeconds = 0.0, largestCount = 0

    private func allreduce(_ values: UnsafeMutableRawPointer, _ n: Int, _ type: MPI_Datatype) {
        precondition(n <= Int(Int32.max), "allreduce of \(n) values")
        let started = MPI_Wtime()
        guard MPI_Allreduce(svgnet_mpi_in_place(), values, Int32(n), type, svgnet_mpi_sum(), comm) == MPI_SUCCESS else {
            abort(message: "MPI_Allreduce failed")
        }
        let seconds = MPI_Wtime() - started
        if n > largestCount { largestCount = n; otherCallsSeconds += largestCallSeconds; largestCallSeconds = 0 }
        if n == largestCount { largestCallSeconds += seconds } else { otherCallsSeconds += seconds }
    }

    /// With SVGNET_ALLREDUCE_TIMES set, one line on stderr: the seconds per step spent in the gradient's
    /// allreduce and in all the others.
    func reportAllreduceTimes(steps: Int) {
        guard ProcessInfo.processInfo.environment["SVGNET_ALLREDUCE_TIMES"] != nil, steps > 0 else { return }
        FileHandle.standardError.write(
            Data(
                String(
                    format: "allreduce (rank %d): gradient %.4f s/step (%d floats), others %.4f s/step\n", rank,
                    largestCallSeconds / Double(steps), largestCount, otherCallsSeconds / Double(steps)
                ).utf8))
    }

    /// Every rank's `local` block concatenated in rank order on rank 0 (MPI_Gatherv; `counts[r]` floats from
    /// rank r); the other ranks get an empty array.
    func gatherOnRoot(_ local: [Float], counts: [Int]) -> [Float] {
        precondition(counts.count == count && counts[rank] == local.count && counts.reduce(0, +) <= Int(Int32.max))
        var displacements: [Int32] = [], offset: Int32 = 0
        for c in counts { displacements.append(offset); offset += Int32(c) }
        let counts32 = counts.map { Int32($0) }
        var all = [Float](repeating: 0, count: rank == 0 ? Int(offset) : 0)
        let status = local.withUnsafeBufferPointer { l in
            all.withUnsafeMutableBufferPointer { a in
                MPI_Gatherv(
                    l.baseAddress, Int32(local.count), svgnet_mpi_float(), a.baseAddress, counts32, displacements,
                    svgnet_mpi_float(), 0, comm)
            }
        }
        guard status == MPI_SUCCESS else { abort(message: "MPI_Gatherv failed") }
        return all
    }

    /// Whether every rank holds the same `values` (one allreduce of their maxima and negated minima; every
    /// rank gets the same answer).
    func sameOnEveryRank(_ values: [Double]) -> Bool {
        var extremes = values + values.map { -$0 }
        let status = extremes.withUnsafeMutableBufferPointer {
            MPI_Allreduce(svgnet_mpi_in_place(), $0.baseAddress, Int32($0.count), svgnet_mpi_double(), svgnet_mpi_max(), comm)
        }
        guard status == MPI_SUCCESS else { abort(message: "MPI_Allreduce failed") }
        return (0..<values.count).allSatisfy { extremes[$0] == -extremes[values.count + $0] }
    }

    /// Whether any rank's flag is set (one allreduce; every rank gets the answer).
    func any(_ flag: Bool) -> Bool {
        var v: Double = flag ? 1 : 0
        sum(&v, count: 1)
        return v > 0
    }

    /// Ends the job on every rank: prints `message` (prefixed with this rank) and calls MPI_Abort, after which
    /// mpirun stops the other ranks.
    func abort(message: String, code: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data("error (rank \(rank) of \(count)): \(message)\n".utf8))
        MPI_Abort(comm, code)
        exit(code)
    }

    /// MPI_Finalize, once every rank has finished its command (or agreed to stop); later calls do nothing.
    func finish() {
        guard !MPIWorld.finished else { return }
        MPIWorld.finished = true
        MPI_Finalize()
    }

    /// finish() if MPI was initialised at all.
    static func finishIfStarted() { started?.finish() }

    /// Runs `setup` on every rank and agrees on its outcome: if any rank failed, all of them stop, rank 0
    /// printing its own error (or a pointer to the ranks that failed), the others theirs when rank 0 did not
    /// fail, so an error every rank hits is printed once.
    func agree<T>(_ setup: () throws -> T) throws -> T {
        var result: Result<T, Error>
        do { result = .success(try setup()) } catch { result = .failure(error) }
        var flags = SIMD2<Double>()
        if case .failure = result { flags[0] = 1; if rank == 0 { flags[1] = 1 } }
        withUnsafeMutableBytes(of: &flags) { sum($0.baseAddress!.assumingMemoryBound(to: Double.self), count: 2) }
        guard flags[0] > 0 else { return try result.get() }
        if case .failure(let error) = result, rank == 0 || flags[1] == 0 {
            printError(error)
        } else if rank == 0 {
            printError(CLIError("\(Int(flags[0])) of \(count) ranks failed while setting up; their messages are above"))
        }
        stopTogether(status: 1)
    }

    /// One error line on stderr, as the argument parser prints it (rank 0) or with the rank (the others).
    func printError(_ error: Error) {
        FileHandle.standardError.write(Data((rank == 0 ? "Error: \(error)\n" : "Error (rank \(rank) of \(count)): \(error)\n").utf8))
    }

    /// Ends every rank with `status` once all have printed what they had to: mpirun stops the whole job as soon
    /// as one rank exits with a failure, so no rank may leave before the others have written their words.
    func stopTogether(status: Int32) -> Never {
        MPI_Barrier(comm)
        finish()
        exit(status)
    }
}
