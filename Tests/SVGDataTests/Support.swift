// Test support: a fresh temporary folder per test, random images on the byte grid, and an assertion that
// an expression throws a DataError whose message names a given path.
import Foundation
import XCTest
@testable import SVGData
@_exported import TestSupport

class TemporaryFolderTestCase: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("svgdata-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func path(_ relative: String) -> String { folder + "/" + relative }

    func makeFolder(_ relative: String) throws -> String {
        let p = path(relative)
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }
}

extension TestRNG {
    /// An image whose values are exact multiples of 1/255, so a byte-based format round-trips it exactly.
    mutating func image(channels: Int, height: Int, width: Int) -> Image {
        Image(
            channels: channels, height: height, width: width,
            pixels: (0..<channels * height * width).map { _ in Float(byte()) / 255 })
    }
}

func assertThrowsMentioning<T>(
    _ fragment: String, _ expression: @autoclosure () throws -> T, _ also: String? = nil,
    file: StaticString = #filePath, line: UInt = #line
) {
    do {
        _ = try expression()
        XCTFail("expected an error mentioning \(fragment)", file: file, line: line)
    } catch {
        let message = "\(error)"
        XCTAssertTrue(message.contains(fragment), "error «\(message)» does not mention «\(fragment)»", file: file, line: line)
        if let also {
            XCTAssertTrue(message.contains(also), "error «\(message)» does not mention «\(also)»", file: file, line: line)
        }
    }
}
