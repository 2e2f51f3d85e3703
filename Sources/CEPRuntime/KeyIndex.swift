import CEPCore

/// Key values to key slots: an open-addressing hash table (linear probing, backward-shift deletion) that stores
/// only hashes and slot numbers; the key itself is compared through the caller, which keeps it in the slot.
///
/// Every event of a keyed pattern looks its key up here, so the lookup is on the hot path: a `Dictionary<Value,
/// Int32>` hashed each key with SipHash and kept a copy of it; this table hashes short strings with a few
/// multiplications and touches one probe line before the slot the caller reads anyway.
struct KeyIndex {
    private struct Entry {
        /// 0 marks an empty entry (real hashes have their low bit set).
        var hash: UInt64
        var slot: Int32
    }

    private var entries: [Entry] = Array(repeating: Entry(hash: 0, slot: -1), count: 16)
    private var mask = 15
    /// Number of keys in the table.
    private(set) var count = 0

    /// The hash of a key value (consistent with `Value`'s `==`).
    @inline(__always)
    static func hash(_ key: Value) -> UInt64 {
        var h: UInt64
        switch key {
        case .string(let text):
            h = 0xcbf2_9ce4_8422_2325
            for byte in text.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        case .int(let i):
            h = UInt64(bitPattern: i)
        default:
            h = UInt64(bitPattern: Int64(key.hashValue))
        }
        // A final mix (from SplitMix64): linear probing wants every bit of the hash to depend on every input bit.
        h = (h ^ (h >> 30)) &* 0xbf58_476d_1ce4_e5b9
        h = (h ^ (h >> 27)) &* 0x94d0_49bb_1331_11eb
        return (h ^ (h >> 31)) | 1
    }

    /// The slot of the key with `hash` for which `isKey` holds, if any.
    @inline(__always)
    func find(_ hash: UInt64, isKey: (Int32) -> Bool) -> Int32? {
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = entries[i]
            if entry.hash == 0 { return nil }
            if entry.hash == hash && isKey(entry.slot) { return entry.slot }
            i = (i + 1) & mask
        }
    }

    /// Adds a key known not to be in the table.
    mutating func insert(_ hash: UInt64, slot: Int32) {
        if (count + 1) * 4 > entries.count * 3 { grow() }
        var i = Int(truncatingIfNeeded: hash) & mask
        while entries[i].hash != 0 { i = (i + 1) & mask }
        entries[i] = Entry(hash: hash, slot: slot)
        count += 1
    }

    /// Removes the entry of `slot` (whose key has `hash`).
    mutating func remove(_ hash: UInt64, slot: Int32) {
        var i = Int(truncatingIfNeeded: hash) & mask
        while entries[i].slot != slot || entries[i].hash != hash {
            precondition(entries[i].hash != 0, "KeyIndex.remove: slot not in the table")
            i = (i + 1) & mask
        }
        // Backward shift: move later entries of the probe run into the hole, so that no tombstones build up.
        var hole = i
        var j = (i + 1) & mask
        while entries[j].hash != 0 {
            let home = Int(truncatingIfNeeded: entries[j].hash) & mask
            // Entry j may move into the hole only if its home is not cyclically within (hole, j].
            let distanceToHome = (j - home) & mask
            let distanceToHole = (j - hole) & mask
            if distanceToHome >= distanceToHole {
                entries[hole] = entries[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        entries[hole] = Entry(hash: 0, slot: -1)
        count -= 1
    }

    /// All slots in the table (in no particular order).
    var slots: [Int32] { entries.compactMap { $0.hash == 0 ? nil : $0.slot } }

    private mutating func grow() {
        let old = entries
        entries = Array(repeating: Entry(hash: 0, slot: -1), count: old.count * 2)
        mask = entries.count - 1
        count = 0
        for entry in old where entry.hash != 0 { insert(entry.hash, slot: entry.slot) }
    }
}
