import ArgumentParser
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
    try command.run()
    MPIWorld.finishIfStarted()
} catch {
    MPIWorld.finishIfStarted()
    SVGNetCommand.exit(withError: error)
}
