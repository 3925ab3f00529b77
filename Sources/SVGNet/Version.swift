/// The engine's version.
public enum SVGNetVersion {
    /// The version as "major.minor.patch".
    public static let string = "0.2.0"
}
