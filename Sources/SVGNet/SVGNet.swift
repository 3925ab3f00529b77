// The model: SVG-LP, H-SVG and HAF-SVG as static training schedules (see Docs/ARCHITECTURE.md).
import Kernels

public enum SVGNetVersion {
    public static let string = "0.1.0"
}
