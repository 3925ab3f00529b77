import XCTest
@testable import SVGNet

final class SVGNetTests: XCTestCase {
    func testVersionIsSemantic() {
        XCTAssertEqual(SVGNetVersion.string.split(separator: ".").count, 3)
    }
}
