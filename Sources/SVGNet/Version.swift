public enum SVGNetVersion {
    public static let string = "0.1.0"
}
