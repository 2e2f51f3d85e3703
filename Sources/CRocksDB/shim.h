#ifndef CEPD_CROCKSDB_SHIM_H
#define CEPD_CROCKSDB_SHIM_H
// RocksDB 7.8.3 (Debian's librocksdb-dev), through its C API only.
#include <rocksdb/c.h>
#endif
