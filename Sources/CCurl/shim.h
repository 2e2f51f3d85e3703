#ifndef CEPD_CCURL_SHIM_H
#define CEPD_CCURL_SHIM_H
// libcurl (Debian's libcurl4-openssl-dev), for the schema registry client. curl_easy_setopt is variadic, which
// Swift cannot call: these typed wrappers pass each kind of option value.
#include <curl/curl.h>

static inline CURLcode cepd_curl_set_string(CURL *curl, CURLoption option, const char *value) {
    return curl_easy_setopt(curl, option, value);
}
static inline CURLcode cepd_curl_set_long(CURL *curl, CURLoption option, long value) {
    return curl_easy_setopt(curl, option, value);
}
static inline CURLcode cepd_curl_set_pointer(CURL *curl, CURLoption option, void *value) {
    return curl_easy_setopt(curl, option, value);
}
typedef size_t (*cepd_curl_write_callback)(char *data, size_t size, size_t count, void *context);
static inline CURLcode cepd_curl_set_write(CURL *curl, cepd_curl_write_callback callback) {
    return curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, callback);
}
static const long cepd_curlauth_basic = (long)CURLAUTH_BASIC;
static inline CURLcode cepd_curl_response_code(CURL *curl, long *code) {
    return curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, code);
}
#endif
