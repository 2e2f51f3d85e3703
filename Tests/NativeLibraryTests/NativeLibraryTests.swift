import Foundation
import KafkaClient
import RocksStore
import Testing

/// The C libraries are wired: they load, answer, and report their own errors.
@Suite struct NativeLibraryTests {
    @Test func librdkafkaReportsItsVersion() {
        #expect(KafkaLibrary.versionNumber >= 0x0200_0000)
        #expect(KafkaLibrary.version.hasPrefix("2."))
    }

    @Test func rocksdbStoresAndReadsBack() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-rocks-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try RocksDatabase(path: dir.path)
        try db.put(Array("k".utf8), Array("v".utf8))
        #expect(try db.get(Array("k".utf8)) == Array("v".utf8))
        #expect(try db.get(Array("missing".utf8)) == nil)
    }

    @Test func rocksdbErrorsCarryRocksDBsMessage() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-file-\(UUID().uuidString)")
        try Data("x".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(throws: StoreError.self) { _ = try RocksDatabase(path: file.path) }
    }
}
