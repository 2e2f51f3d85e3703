/* The floor for cepd's alert latency: a relay in C that consumes each message of the input topics and produces a
 * message about it to an output topic at once — the two broker crossings any Kafka-to-Kafka processor pays, with
 * no processing between them.
 *
 *   relay BROKERS TOPIC:PARTITIONS[,TOPIC:PARTITIONS...] OUTPUT EVERY [KEY=VALUE ...]
 *
 * Reads the partitions from the beginning (assigned, no group: joining one takes seconds on Tansu) and produces,
 * for every EVERY-th message of a partition (by offset: a sample, so that the Python consumer that times them keeps
 * up at 100k messages/s; the relay still reads every message), {"_match":{"events":[{"topic":T,"partition":P,"offset":O,"ts":0}]}} to OUTPUT — the shape of a cepd
 * alert's last event, so that `loadgen.py alerts` records its arrival and `loadgen.py analyze --relay` its latency
 * from when the message was sent. librdkafka's defaults for both sides unless KEY=VALUE (applied to both) says
 * otherwise. Runs until SIGTERM or SIGINT, then delivers what it has produced. Built by Benchmarks/kafka/run.sh with
 * gcc against Debian's librdkafka-dev; run with the librdkafka that cepd uses against the broker (LD_LIBRARY_PATH).
 */
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stopping = 0;
static void stop(int signal) { (void)signal; stopping = 1; }

static void set(rd_kafka_conf_t *conf, const char *key, const char *value) {
    char error[512];
    if (rd_kafka_conf_set(conf, key, value, error, sizeof error) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "relay: %s=%s: %s\n", key, value, error);
        exit(2);
    }
}

static long long failed = 0;
static void delivered(rd_kafka_t *kafka, const rd_kafka_message_t *message, void *opaque) {
    (void)kafka; (void)opaque;
    if (message->err) failed++;
}

int main(int argc, char **argv) {
    if (argc < 5 || atoi(argv[4]) < 1) {
        fprintf(stderr, "usage: relay BROKERS TOPIC:PARTITIONS[,...] OUTPUT EVERY [KEY=VALUE ...]\n");
        return 2;
    }
    long long every = atoll(argv[4]);
    char error[512], group[64];
    rd_kafka_conf_t *consumer_conf = rd_kafka_conf_new(), *producer_conf = rd_kafka_conf_new();
    snprintf(group, sizeof group, "relay-%ld", (long)time(NULL));
    set(consumer_conf, "bootstrap.servers", argv[1]);
    set(consumer_conf, "group.id", group); /* required by librdkafka; nothing joins or commits */
    set(consumer_conf, "enable.auto.commit", "false");
    set(producer_conf, "bootstrap.servers", argv[1]);
    rd_kafka_conf_set_dr_msg_cb(producer_conf, delivered);
    for (int i = 5; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) { fprintf(stderr, "relay: expected KEY=VALUE, got %s\n", argv[i]); return 2; }
        *eq = 0;
        set(consumer_conf, argv[i], eq + 1);
        set(producer_conf, argv[i], eq + 1);
    }
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, consumer_conf, error, sizeof error);
    if (!consumer) { fprintf(stderr, "relay: %s\n", error); return 3; }
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, producer_conf, error, sizeof error);
    if (!producer) { fprintf(stderr, "relay: %s\n", error); return 3; }
    rd_kafka_poll_set_consumer(consumer);

    rd_kafka_topic_partition_list_t *assignment = rd_kafka_topic_partition_list_new(16);
    char *spec = strdup(argv[2]);
    for (char *item = strtok(spec, ","); item; item = strtok(NULL, ",")) {
        char *colon = strchr(item, ':');
        if (!colon) { fprintf(stderr, "relay: expected TOPIC:PARTITIONS, got %s\n", item); return 2; }
        *colon = 0;
        int partitions = atoi(colon + 1);
        for (int p = 0; p < partitions; p++)
            rd_kafka_topic_partition_list_add(assignment, item, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(consumer, assignment);
    if (err) { fprintf(stderr, "relay: assign: %s\n", rd_kafka_err2str(err)); return 3; }
    signal(SIGTERM, stop);
    signal(SIGINT, stop);

    long long relayed = 0;
    char value[512];
    while (!stopping) {
        rd_kafka_message_t *message = rd_kafka_consumer_poll(consumer, 100);
        rd_kafka_poll(producer, 0);
        if (!message) continue;
        if (message->err) {
            if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "relay: %s\n", rd_kafka_message_errstr(message));
            rd_kafka_message_destroy(message);
            continue;
        }
        if (message->offset % every != 0) {
            rd_kafka_message_destroy(message);
            continue;
        }
        int n = snprintf(value, sizeof value,
                         "{\"_match\":{\"events\":[{\"topic\":\"%s\",\"partition\":%d,\"offset\":%lld,\"ts\":0}]}}",
                         rd_kafka_topic_name(message->rkt), (int)message->partition, (long long)message->offset);
        rd_kafka_message_destroy(message);
        while (rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(argv[3]), RD_KAFKA_V_PARTITION(0),
                                 RD_KAFKA_V_VALUE(value, (size_t)n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(producer, 10);
        relayed++;
    }
    rd_kafka_flush(producer, 10000);
    fprintf(stderr, "relay: %lld messages relayed, %lld not delivered\n", relayed, failed);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    rd_kafka_destroy(producer);
    return failed ? 4 : 0;
}
