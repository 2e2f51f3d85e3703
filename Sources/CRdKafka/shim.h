#ifndef CEPD_CRDKAFKA_SHIM_H
#define CEPD_CRDKAFKA_SHIM_H
// librdkafka 2.0.2 (Debian's librdkafka-dev). Code against this version's API only: tests run the same
// ABI against librdkafka 2.16 when they talk to Tansu (see docs/operations.md).
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#endif
