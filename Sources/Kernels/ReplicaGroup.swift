// The replicas of a data-parallel computation: processes (MPI ranks, in the svgnet tool) or threads (in
// the tests), each holding its own rows of one batch. The kernels need only one collective from them, an
// elementwise sum in place (an allreduce), with the same result on every replica.

/// The replicas of a data-parallel step; `rank` is this one, `count` all of them.
public protocol ReplicaGroup: AnyObject {
    /// This replica's index, 0 ..< count.
    var rank: Int { get }
    /// Replicas in the group (1: no data parallelism).
    var count: Int { get }
    /// Sums `count` Doubles elementwise over every replica, in place; all replicas get identical bits.
    func sum(_ values: UnsafeMutablePointer<Double>, count: Int)
    /// Sums `count` Floats elementwise over every replica, in place; all replicas get identical bits.
    func sum(_ values: UnsafeMutablePointer<Float>, count: Int)
}

/// Rows `rank` owns when `batch` rows are split over `count` replicas: contiguous, in rank order, sizes
/// ⌊batch/count⌋ or ⌈batch/count⌉ (rank r starts at ⌊batch·r/count⌋).
public func replicaRows(batch: Int, rank: Int, count: Int) -> Range<Int> {
    precondition(count > 0 && (0..<count).contains(rank) && batch >= 0)
    return (batch * rank / count)..<(batch * (rank + 1) / count)
}
