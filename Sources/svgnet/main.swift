import ArgumentParser
import Foundation
import SVGNet

struct SVGNetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "svgnet",
        abstract: "Train, sample and evaluate SVG-LP, H-SVG and HAF-SVG video prediction models on the CPU.",
        version: SVGNetVersion.string,
        subcommands: [Train.self, Generate.self, Evaluate.self, Score.self, DataCommand.self, Info.self, Export.self, Demo.self])
}
// Not SVGNetCommand.main(): under mpirun every rank must reach MPI_Finalize after its command.
do {
    var command = try SVGNetCommand.parseAsRoot()
    // Under mpirun only these split their work over the ranks; any other command would run N times over the
    // same files.
    if MPIWorld.launchSize > 1 && !(command is Train || command is Evaluate || command is Generate) {
        if MPIWorld.launchRank == 0 {
            throw CLIError("this command runs in one process; of svgnet's commands only train, evaluate and generate run under mpirun")
        }
        exit(1)
    }
    try command.run()
    MPIWorld.finishIfStarted()
} catch {
    MPIWorld.finishIfStarted()
    SVGNetCommand.exit(withError: error)
}
