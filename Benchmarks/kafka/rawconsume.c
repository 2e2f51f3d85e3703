/* The ceiling for cepd's Kafka throughput: a bare librdkafka consumer that reads topics from the beginning to
 * their end and does nothing with the messages.
 *
 *   rawconsume BROKERS TOPIC:PARTITIONS[,TOPIC:PARTITIONS...] [KEY=VALUE ...]
 *
 * Prints one line: messages, bytes, seconds (from the first poll to the last partition's end) and messages/s.
 * Built by Benchmarks/kafka/run.sh with gcc against Debian's librdkafka-dev; run with the librdkafka that cepd
 * uses against the broker (LD_LIBRARY_PATH), so both read with the same library and defaults.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void set(rd_kafka_conf_t *conf, const char *key, const char *value) {
    char error[512];
    if (rd_kafka_conf_set(conf, key, value, error, sizeof error) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "rawconsume: %s=%s: %s\n", key, value, error);
        exit(2);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: rawconsume BROKERS TOPIC:PARTITIONS[,...] [KEY=VALUE ...]\n");
        return 2;
    }
    char error[512], group[64];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(group, sizeof group, "rawconsume-%ld", (long)time(NULL));
    set(conf, "bootstrap.servers", argv[1]);
    set(conf, "group.id", group); /* required by librdkafka; nothing joins or commits (assign, no subscribe) */
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.partition.eof", "true");
    for (int i = 3; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) { fprintf(stderr, "rawconsume: expected KEY=VALUE, got %s\n", argv[i]); return 2; }
        *eq = 0;
        set(conf, argv[i], eq + 1);
    }
    rd_kafka_t *kafka = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
    if (!kafka) { fprintf(stderr, "rawconsume: %s\n", error); return 3; }
    rd_kafka_poll_set_consumer(kafka);

    rd_kafka_topic_partition_list_t *assignment = rd_kafka_topic_partition_list_new(16);
    char *spec = strdup(argv[2]);
    for (char *item = strtok(spec, ","); item; item = strtok(NULL, ",")) {
        char *colon = strchr(item, ':');
        if (!colon) { fprintf(stderr, "rawconsume: expected TOPIC:PARTITIONS, got %s\n", item); return 2; }
        *colon = 0;
        int partitions = atoi(colon + 1);
        for (int p = 0; p < partitions; p++)
            rd_kafka_topic_partition_list_add(assignment, item, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(kafka, assignment);
    if (err) { fprintf(stderr, "rawconsume: assign: %s\n", rd_kafka_err2str(err)); return 3; }

    int open = assignment->cnt;
    long long messages = 0, bytes = 0;
    double start = now(), last = start;
    while (open > 0) {
        rd_kafka_message_t *message = rd_kafka_consumer_poll(kafka, 1000);
        if (!message) {
            if (now() - last > 30) { fprintf(stderr, "rawconsume: nothing for 30 s\n"); return 4; }
            continue;
        }
        if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            open--;
            /* When each partition was read to its end: a partition that lags the others limits any reader that
             * merges partitions by event time, as cepd does. */
            fprintf(stderr, "rawconsume: %s[%d] at its end (offset %lld) after %.3f s\n",
                    rd_kafka_topic_name(message->rkt), (int)message->partition, (long long)message->offset,
                    now() - start);
        } else if (message->err) {
            fprintf(stderr, "rawconsume: %s\n", rd_kafka_message_errstr(message));
            return 4;
        } else {
            messages++;
            bytes += (long long)message->len;
            last = now();
        }
        rd_kafka_message_destroy(message);
    }
    double seconds = last - start;
    printf("%lld messages %lld bytes %.3f s %.0f messages/s\n", messages, bytes, seconds,
           seconds > 0 ? (double)messages / seconds : 0.0);
    rd_kafka_topic_partition_list_destroy(assignment);
    rd_kafka_consumer_close(kafka);
    rd_kafka_destroy(kafka);
    free(spec);
    return 0;
}
