"""Load, alert timing and lag for the Kafka benchmark (Benchmarks/kafka/run.sh); runs with the python of
scripts/kafka-env.sh (confluent-kafka).

  produce --brokers B --input DIR --topics T,... --partitions N --count N --rate R --sent FILE
      Sends the first N events of the generated stream (the topics' files merged by event time) at R events/s
      (R = 0: as fast as possible), partitioned by user as kafka-tool does, and writes per message its topic,
      partition, event time and send time (wall clock) to FILE. Topics must be fresh: the offset of a message is
      then its position in its partition, which is how an alert's events are found again.
  alerts --brokers B --topic T --out FILE --stop FILE
      Reads alerts from the beginning and writes, per alert, the wall-clock time it arrived and its last event
      (topic, partition, offset, time) until the stop file exists and nothing came for two seconds.
  lag --brokers B --group G --topics T:N,... --sent FILE [--timeout S]
      Waits until group G has committed the end offset of every partition; prints the seconds it waited and the
      rate its commits advanced at from the first commit seen to the end (messages/s). The ends are counted from
      the sent FILE of `produce` (same topics, same order), not asked of the broker: Tansu answers ListOffsets
      (latest) with the base offset of the partition's last batch + 1, which made this return long before the end.
  analyze --sent FILE --alerts FILE --lateness-ms L --topics T,...
      Alert latency beyond the watermark, per alert: its arrival time minus the moment the watermark could first
      pass its last event — when, in every input partition, an event at least L ms later had been sent. With
      --relay, the records are relay.c's (one per input message): arrival minus that message's own send time, the
      floor any Kafka-to-Kafka processor pays.
"""
import argparse
import array
import bisect
import heapq
import json
import os
import sys
import time
import zlib

from confluent_kafka import Consumer, Producer, TopicPartition


def merged_events(directory, topics, count):
    """(topic index, line) of the first `count` events, the topics' files merged by event time."""
    def lines(t, name):
        with open(os.path.join(directory, f"{name}.jsonl"), "rb") as f:
            for line in f:
                line = line.rstrip(b"\n")
                try:
                    ts = json.loads(line)["ts"]
                except (ValueError, KeyError):
                    continue
                yield ts, t, line
    out = []
    for ts, t, line in heapq.merge(*(lines(t, name) for t, name in enumerate(topics)), key=lambda e: e[0]):
        out.append((t, ts, line))
        if len(out) == count:
            break
    return out


def produce(args):
    topics = args.topics.split(",")
    events = merged_events(args.input, topics, args.count)
    n = len(events)
    partition, key, value = [], [], []
    for t, ts, line in events:
        user = json.loads(line)["user"].encode()
        partition.append(zlib.crc32(user) % args.partitions)
        key.append(user)
        value.append(line)
    names = [topics[t] for t, _, _ in events]
    sent = array.array("d", bytes(8 * n))
    failures = []
    producer = Producer({"bootstrap.servers": args.brokers, "enable.idempotence": True, "linger.ms": 2,
                         "delivery.report.only.error": True, "queue.buffering.max.messages": 1_000_000})

    def report(err, _msg):
        failures.append(err)

    behind = 0.0
    i = 0
    start = time.time()
    while i < n:
        now = time.time()
        due = n if args.rate == 0 else min(n, int((now - start) * args.rate) + 1)
        if args.rate and due > i + 1:
            behind = max(behind, now - (start + (i + 1) / args.rate))
        while i < due:
            try:
                producer.produce(names[i], value=value[i], key=key[i], partition=partition[i], on_delivery=report)
            except BufferError:
                producer.poll(0.01)
                continue
            sent[i] = now
            i += 1
        producer.poll(0)
        if args.rate and i < n:
            time.sleep(max(0.0, start + (i + 1) / args.rate - time.time()))
    left = producer.flush(60)
    elapsed = time.time() - start
    if failures or left:
        sys.exit(f"loadgen: {len(failures)} messages failed, {left} undelivered: {failures[:3]}")
    with open(args.sent, "wb") as f:
        array.array("b", [t for t, _, _ in events]).tofile(f)
        array.array("h", partition).tofile(f)
        array.array("q", [ts for _, ts, _ in events]).tofile(f)
        sent.tofile(f)
    print(json.dumps({"events": n, "seconds": round(elapsed, 3), "rate": round(n / elapsed),
                      "max_behind_schedule_ms": round(behind * 1000, 1)}))


def load_sent(path):
    size = os.path.getsize(path)
    n = size // (1 + 2 + 8 + 8)
    with open(path, "rb") as f:
        topic, partition, ts, sent = array.array("b"), array.array("h"), array.array("q"), array.array("d")
        topic.fromfile(f, n)
        partition.fromfile(f, n)
        ts.fromfile(f, n)
        sent.fromfile(f, n)
    return topic, partition, ts, sent


def alerts(args):
    # Assigned, not subscribed: joining a group takes seconds on Tansu, and alerts must be seen as they come.
    consumer = Consumer({"bootstrap.servers": args.brokers, "group.id": f"latency-{os.getpid()}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 5})
    metadata = consumer.list_topics(args.topic, timeout=10).topics[args.topic]
    consumer.assign([TopicPartition(args.topic, p, 0) for p in metadata.partitions])
    quiet_since = time.time()
    with open(args.out, "w") as out:
        while True:
            message = consumer.poll(0.05)
            now = time.time()
            if message is None or message.error():
                if os.path.exists(args.stop) and now - quiet_since > 2:
                    break
                continue
            quiet_since = now
            last = json.loads(message.value())["_match"]["events"][-1]
            out.write(f'{now:.6f} {last["topic"]} {last["partition"]} {last["offset"]} {last["ts"]}\n')
    consumer.close()


def lag(args):
    parts = []
    for item in args.topics.split(","):
        name, count = item.split(":")
        parts += [TopicPartition(name, p) for p in range(int(count))]
    consumer = Consumer({"bootstrap.servers": args.brokers, "group.id": args.group, "enable.auto.commit": False})
    # Fresh topics: a partition's end is how many messages were sent to it.
    names = [item.split(":")[0] for item in args.topics.split(",")]
    topic, _, _, _ = load_sent(args.sent)
    total = len(topic)
    for t in set(topic):
        if t >= len(names):
            sys.exit(f"loadgen: the sent file names topic number {t}; --topics lists {len(names)}")
    start = time.time()
    first = None  # (time, committed) at the first commit seen: the rate is measured from there
    while True:
        committed = sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))
        now = time.time()
        if committed > 0 and first is None:
            first = (now, committed)
        if committed >= total:
            break
        if now - start > args.timeout:
            consumer.close()
            sys.exit(f"loadgen: group {args.group} still {total - committed} messages behind after {args.timeout} s")
        time.sleep(0.05)
    consumer.close()
    rate = (total - first[1]) / (now - first[0]) if now > first[0] and total > first[1] else 0
    print(f"{now - start:.3f} {rate:.0f}")


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def analyze(args):
    topics = args.topics.split(",")
    topic, partition, ts, sent = load_sent(args.sent)
    # Per input partition: the messages in send order (offset k = k-th), their times and the running maximum of
    # their event times (what the partition's watermark follows).
    by_partition = {}
    for i in range(len(ts)):
        by_partition.setdefault((topic[i], partition[i]), []).append(i)
    running = {}
    for tp, indices in by_partition.items():
        top, maxima = -(1 << 62), []
        for i in indices:
            top = max(top, ts[i])
            maxima.append(top)
        running[tp] = maxima
    latencies, tail, unknown = [], 0, 0
    with open(args.alerts) as f:
        for line in f:
            arrived, name, p, offset, last_ts = line.split()
            key = (topics.index(name) if name in topics else -1, int(p))
            if key not in by_partition or int(offset) >= len(by_partition[key]):
                unknown += 1
                continue
            if args.relay:
                # relay.c's output: the latency of one message through two broker crossings, from its own send.
                latencies.append((float(arrived) - sent[by_partition[key][int(offset)]]) * 1000)
                continue
            threshold = int(last_ts) + args.lateness_ms
            ready = 0.0
            for tp, maxima in running.items():
                k = bisect.bisect_left(maxima, threshold)
                if k == len(maxima):
                    ready = None  # the watermark never passed it while traffic ran (only an idle timeout would)
                    break
                ready = max(ready, sent[by_partition[tp][k]])
            if ready is None:
                tail += 1
                continue
            latencies.append((float(arrived) - ready) * 1000)
    latencies.sort()
    result = {"alerts": len(latencies), "after_traffic_end": tail, "unknown": unknown}
    if latencies:
        result.update({f"p{name}_ms": round(percentile(latencies, q), 2)
                       for name, q in [("50", 0.5), ("99", 0.99), ("999", 0.999)]})
        result["max_ms"] = round(latencies[-1], 2)
        result["min_ms"] = round(latencies[0], 2)
        # The distribution, for plots: the latency at each 1/1000 of the alerts.
        result["quantiles_ms"] = [round(percentile(latencies, q / 1000), 2) for q in range(1001)]
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("produce")
    p.add_argument("--brokers", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--topics", required=True)
    p.add_argument("--partitions", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--sent", required=True)
    p = sub.add_parser("alerts")
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--stop", required=True)
    p = sub.add_parser("lag")
    p.add_argument("--brokers", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--topics", required=True)
    p.add_argument("--sent", required=True)
    p.add_argument("--timeout", type=float, default=600)
    p = sub.add_parser("analyze")
    p.add_argument("--sent", required=True)
    p.add_argument("--alerts", required=True)
    p.add_argument("--lateness-ms", type=int, required=True)
    p.add_argument("--topics", required=True)
    p.add_argument("--relay", action="store_true",
                   help="the records are relay.c's: latency from each message's own send, no watermark")
    args = parser.parse_args()
    {"produce": produce, "alerts": alerts, "lag": lag, "analyze": analyze}[args.command](args)


if __name__ == "__main__":
    main()
