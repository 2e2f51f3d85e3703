"""Small Kafka client for the demo and the end-to-end tests (runs with the python of scripts/kafka-env.sh).

  produce --brokers B --topic T --partitions N --file F [--split DIR] [--timestamps FIELD] [--rate N]
      Produces each line of F to T. The partition is chosen here, from the line's "user" field (lines without
      one are spread by line number), so that the per-partition sequences are known: --split writes them to
      DIR/T.pN.jsonl, line N of a file being offset N of that partition (a fresh topic starts at offset 0).
      --timestamps FIELD gives each message the timestamp (epoch ms) in the line's FIELD. --rate N sends N
      messages per second (live traffic) instead of all at once. --header NAME=FIELD (repeatable) gives each
      message the header NAME with the line's FIELD as its value (lines without it get none). --values V sends
      line N of V, decoded from base64, as the value of line N of F (binary messages: F still chooses the
      partition, key and timestamp), and --split then writes V's lines.
  consume --brokers B --topic T --out F [--idle S] [--expect N] [--headers] [--base64]
      Reads T from the beginning until N messages arrived or none came for S seconds; writes one value per line,
      or with --headers one JSON object per message (key, value, headers, partition, offset). --base64 writes
      values in base64 (binary messages).
"""
import argparse
import base64
import json
import sys
import time
import zlib

from confluent_kafka import Consumer, Producer


def partition_of(line, number, partitions):
    try:
        user = json.loads(line).get("user")
    except (ValueError, AttributeError):
        user = None
    if isinstance(user, str):
        return zlib.crc32(user.encode()) % partitions, user.encode()
    return number % partitions, None


def produce(args):
    settings = {"bootstrap.servers": args.brokers, "enable.idempotence": True, "linger.ms": 5}
    if args.max_bytes:
        settings["message.max.bytes"] = args.max_bytes
    producer = Producer(settings)
    failures = []
    split = {}
    if args.split:
        split = {p: open(f"{args.split}/{args.topic}.p{p}.jsonl", "w") for p in range(args.partitions)}

    def report(err, _msg):
        if err is not None:
            failures.append(err)

    count = 0
    started = time.monotonic()
    values = open(args.values) if args.values else None
    with open(args.file) as lines:
        for number, line in enumerate(lines):
            line = line.rstrip("\n")
            encoded = values.readline().rstrip("\n") if values else None
            if values and not encoded:
                sys.exit(f"kafka-tool: {args.values} has fewer lines than {args.file}")
            partition, key = partition_of(line, number, args.partitions)
            extra = {"timestamp": int(json.loads(line)[args.timestamps])} if args.timestamps else {}
            value = base64.b64decode(encoded) if values else line.encode()
            if args.header:
                fields = json.loads(line)
                extra["headers"] = [(name, str(fields[field]).encode()) for name, field in
                                    (spec.split("=", 1) for spec in args.header) if field in fields]
            while True:
                try:
                    producer.produce(args.topic, value=value, key=key, partition=partition, on_delivery=report,
                                     **extra)
                    break
                except BufferError:
                    producer.poll(0.1)
            if args.rate:
                # Paced: each message leaves at its slot, so a consumer sees traffic for the whole duration.
                producer.flush(10)
                time.sleep(max(0.0, started + (count + 1) / args.rate - time.monotonic()))
            producer.poll(0)
            if split:
                split[partition].write((encoded if values else line) + "\n")
            count += 1
    remaining = producer.flush(60)
    for f in split.values():
        f.close()
    if failures or remaining:
        sys.exit(f"kafka-tool: {len(failures)} failed deliveries, {remaining} undelivered to {args.topic}: {failures[:1]}")
    print(f"{count} messages to {args.topic}", file=sys.stderr)


def tombstone(args):
    producer = Producer({"bootstrap.servers": args.brokers})
    producer.produce(args.topic, value=None, key=args.key.encode())
    if producer.flush(30):
        sys.exit(f"kafka-tool: the tombstone to {args.topic} was not delivered")


def consume(args):
    consumer = Consumer({
        "bootstrap.servers": args.brokers, "group.id": f"kafka-tool-{time.time_ns()}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,
    })
    consumer.subscribe([args.topic])
    out = open(args.out, "w")
    count, last = 0, time.time()
    # The first group join can take seconds on some brokers: the idle clock starts at the first assignment.
    while (args.expect is None or count < args.expect) and time.time() - last < args.idle:
        message = consumer.poll(0.2)
        if not consumer.assignment():
            last = time.time()
        if message is None:
            continue
        if message.error():
            print(f"kafka-tool: {message.error()}", file=sys.stderr)
            continue
        last = time.time()
        raw = message.value() if message.value() is not None else b""
        value = base64.b64encode(raw).decode() if args.base64 else raw.decode(errors="replace")
        if args.headers:
            headers = {k: (v.decode(errors="replace") if v is not None else None) for k, v in (message.headers() or [])}
            key = message.key().decode(errors="replace") if message.key() is not None else None
            out.write(json.dumps({"partition": message.partition(), "offset": message.offset(), "key": key,
                                  "headers": headers, "value": value, "null": message.value() is None}) + "\n")
        else:
            out.write(value + "\n")
        count += 1
    out.close()
    consumer.close()
    print(f"{count} messages from {args.topic}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("produce")
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--partitions", type=int, required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--split")
    p.add_argument("--timestamps")
    p.add_argument("--rate", type=float)
    p.add_argument("--max-bytes", type=int, help="the producer's message.max.bytes (for oversized test messages)")
    p.add_argument("--header", action="append", help="NAME=FIELD: a header from the line's FIELD")
    p.add_argument("--values", help="a file of base64 values, one per line of --file")
    t = sub.add_parser("tombstone", help="produce one message with a null value")
    t.add_argument("--brokers", required=True)
    t.add_argument("--topic", required=True)
    t.add_argument("--key", required=True)
    c = sub.add_parser("consume")
    c.add_argument("--brokers", required=True)
    c.add_argument("--topic", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--idle", type=float, default=10)
    c.add_argument("--expect", type=int)
    c.add_argument("--headers", action="store_true")
    c.add_argument("--base64", action="store_true", help="write values in base64")
    args = ap.parse_args()
    {"produce": produce, "consume": consume, "tombstone": tombstone}[args.command](args)


if __name__ == "__main__":
    main()
