import Foundation
import RocksStore
import Testing

/// The RocksDB wrapper against the real library, in a temporary directory.
@Suite struct RocksStoreTests {
    func withDirectory(_ body: (String) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cepd-rocks-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try body(dir.path)
    }

    func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    func keys(_ db: borrowing RocksDatabase, prefix: String) throws -> [String] {
        var found: [String] = []
        try db.scan(prefix: b(prefix)) { key, _ in
            found.append(String(decoding: key, as: UTF8.self))
            return true
        }
        return found
    }

    @Test func aBatchAppliesPutsAndDeletesTogetherAndSurvivesReopening() throws {
        try withDirectory { path in
            do {
                let db = try RocksDatabase(path: path)
                try db.put(b("a/1"), b("old"))
                try db.put(b("a/2"), b("gone"))
                var batch = WriteBatch()
                batch.put(b("a/1"), b("new"))
                batch.delete(b("a/2"))
                batch.put(b("a/3"), [0, 255, 0])
                #expect(batch.puts == 2 && batch.deletes == 1 && batch.payloadBytes == 3 + 3 + 3 + 3)
                // Not applied until written.
                #expect(try db.get(b("a/2")) == b("gone"))
                try db.write(batch)
            }
            let db = try RocksDatabase(path: path)
            #expect(try db.get(b("a/1")) == b("new"))
            #expect(try db.get(b("a/2")) == nil)
            #expect(try db.get(b("a/3")) == [0, 255, 0])
        }
    }

    @Test func aPrefixScanVisitsExactlyThePrefixInKeyOrderAndCanStop() throws {
        try withDirectory { path in
            let db = try RocksDatabase(path: path)
            for k in ["k/b", "k/a", "k\u{7F}", "j/z", "k/c", "l"] { try db.put(b(k), b(k)) }
            #expect(try keys(db, prefix: "k/") == ["k/a", "k/b", "k/c"])
            #expect(try keys(db, prefix: "") == ["j/z", "k/a", "k/b", "k/c", "k\u{7F}", "l"])
            #expect(try keys(db, prefix: "m").isEmpty)
            var first: [String] = []
            try db.scan(prefix: b("k")) { key, value in
                #expect(key == value)
                first.append(String(decoding: key, as: UTF8.self))
                return first.count < 2
            }
            #expect(first == ["k/a", "k/b"])
        }
    }

    @Test func deletingAPrefixRemovesOnlyThatPrefix() throws {
        try withDirectory { path in
            let db = try RocksDatabase(path: path)
            for k in ["p/1", "p/2", "p\u{FF}", "p0", "q"] { try db.put(b(k), b("x")) }
            var batch = WriteBatch()
            batch.deletePrefix(b("p/"))
            try db.write(batch)
            #expect(
                try keys(db, prefix: "")
                    == ["p0", "q", "p\u{FF}"].sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        }
    }

    @Test func aSnapshotDoesNotSeeLaterWrites() throws {
        try withDirectory { path in
            let db = try RocksDatabase(path: path)
            try db.put(b("s/1"), b("before"))
            try db.withSnapshot { view in
                try db.put(b("s/1"), b("after"))
                try db.put(b("s/2"), b("new"))
                try db.delete(b("s/1"))
                #expect(try view.get(b("s/1")) == b("before"))
                #expect(try view.get(b("s/2")) == nil)
                var seen: [String] = []
                try view.scan(prefix: b("s/")) { key, _ in
                    seen.append(String(decoding: key, as: UTF8.self))
                    return true
                }
                #expect(seen == ["s/1"])
            }
            #expect(try db.get(b("s/1")) == nil)
            #expect(try db.get(b("s/2")) == b("new"))
        }
    }

    @Test func aDatabaseInUseCannotBeOpenedTwice() throws {
        try withDirectory { path in
            let db = try RocksDatabase(path: path)
            try db.put(b("k"), b("v"))
            // RocksDB's own lock: the message names the LOCK file.
            #expect {
                _ = try RocksDatabase(path: path)
            } throws: { error in
                (error as? StoreError)?.message.contains("LOCK") == true
            }
            #expect(try db.get(b("k")) == b("v"))
        }
    }
}
