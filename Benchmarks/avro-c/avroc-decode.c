// avro-c (Debian's libavro-dev) on the same job as cepd's AvroScanner: read each message (one Avro binary datum
// of payment.avsc, base64 per line on stdin) and take the fields the fraud patterns read (user, id, amount,
// currency, ts). Written to choose between avro-c and a decoder of cepd's own by measurement (issue 19): run it
// under `valgrind --tool=callgrind` and compare instructions per message with cepd's AvroScanner.
//
//   cc -O2 -o avroc-decode avroc-decode.c $(pkg-config --cflags --libs avro-c)
//   ./avroc-decode payment.avsc < payments.b64
#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int b64(const char *in, size_t n, unsigned char *out) {
    static int table[256];
    static int ready = 0;
    if (!ready) {
        const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (int i = 0; i < 256; i++) table[i] = -1;
        for (int i = 0; i < 64; i++) table[(unsigned char)a[i]] = i;
        ready = 1;
    }
    int o = 0, bits = 0;
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '=') break;
        int v = table[(unsigned char)in[i]];
        if (v < 0) return -1;
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) { bits -= 8; out[o++] = (unsigned char)(acc >> bits); }
    }
    return o;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: avroc-decode SCHEMA.avsc < MESSAGES.b64\n"); return 2; }
    FILE *f = fopen(argv[1], "r");
    if (!f) { perror(argv[1]); return 2; }
    static char text[65536];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = 0;
    fclose(f);
    avro_schema_t schema;
    if (avro_schema_from_json_length(text, len, &schema)) { fprintf(stderr, "%s\n", avro_strerror()); return 2; }
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t value;
    avro_generic_value_new(iface, &value);
    static char line[1 << 16];
    static unsigned char message[1 << 16];
    long count = 0, failed = 0;
    double total = 0;
    size_t chars = 0;
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strcspn(line, "\r\n");
        int size = b64(line, n, message);
        avro_reader_t reader = avro_reader_memory((const char *)message, size);
        avro_value_reset(&value);
        if (size < 0 || avro_value_read(reader, &value)) { failed++; avro_reader_free(reader); continue; }
        avro_reader_free(reader);
        avro_value_t field;
        const char *s;
        size_t slen;
        double amount;
        int symbol;
        int64_t ts;
        avro_value_get_by_name(&value, "user", &field, NULL);
        avro_value_get_string(&field, &s, &slen);
        chars += slen;
        avro_value_get_by_name(&value, "id", &field, NULL);
        avro_value_get_string(&field, &s, &slen);
        chars += slen;
        avro_value_get_by_name(&value, "amount", &field, NULL);
        avro_value_get_double(&field, &amount);
        avro_value_get_by_name(&value, "currency", &field, NULL);
        avro_value_get_enum(&field, &symbol);
        avro_value_get_by_name(&value, "ts", &field, NULL);
        avro_value_get_long(&field, &ts);
        total += amount + symbol + (double)(ts & 1);
        count++;
    }
    printf("%ld messages, %ld failed, checksum %.2f %zu\n", count, failed, total, chars);
    avro_value_decref(&value);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    return 0;
}
