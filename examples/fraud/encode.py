#!/usr/bin/env python3
"""Re-encode the fraud example's JSON-lines files with the official encoders: logins, geo and confirmations as
Protocol Buffers (fraud.proto, through the module protoc generates), payments as Avro (payment.avsc, fastavro).

Each output file holds one message per line in base64 (the framing `cepd run` reads for binary formats), or, with
--raw, the raw messages for producing to Kafka (`scripts/kafka-tool.py produce --binary`). Lines that are not
JSON objects are written as a message the decoder must refuse (bytes that are not valid protobuf/Avro), so that a
bad line stays a dead letter in both encodings.

With --registry FILE the messages are in the Confluent wire format (a zero byte, the 4-byte schema id, for
Protobuf the message indexes, then the message) and FILE receives the schemas by id and subject, as a schema
registry would hold them after the producers registered them (scripts/test-registry.py serves it): fraud.proto
(id 1, with a reference to google/protobuf/timestamp.proto, id 2), payment.avsc (id 3), and for every 10th payment
a newer version of it with an added field (id 4: the reader still finds what it declared).

  protoc --include_imports --descriptor_set_out=fraud.desc --python_out=GEN fraud.proto
  encode.py --pb2 GEN --in EVENTS_DIR --out OUT_DIR [--registry SCHEMAS.json]
"""
import argparse
import base64
import io
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pb2", required=True, help="directory with fraud_pb2.py (protoc --python_out)")
    ap.add_argument("--in", dest="src", required=True, help="directory of logins.jsonl, geo.jsonl, ...")
    ap.add_argument("--out", required=True)
    ap.add_argument("--registry", help="write Confluent-framed messages, and the registry's schemas to this file")
    args = ap.parse_args()
    sys.path.insert(0, args.pb2)
    import fraud_pb2  # noqa: E402  (generated at test time)
    import fastavro  # noqa: E402

    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "payment.avsc")) as f:
        payment_schema = fastavro.parse_schema(json.load(f))

    from google.protobuf import timestamp_pb2  # noqa: E402

    payment_v2 = json.load(open(os.path.join(here, "payment.avsc")))
    payment_v2["fields"].append({"name": "channel", "type": "string", "default": "web"})
    payment_v2_schema = fastavro.parse_schema(payment_v2)
    framing = {}
    if args.registry:
        def frame(schema_id, indexes=None):
            header = b"\x00" + schema_id.to_bytes(4, "big")
            if indexes is None:
                return header
            # Message indexes: a zigzag varint count, then the indexes (the first message alone is [0], written 0).
            if indexes == [0]:
                return header + b"\x00"
            out = bytearray(header)
            for n in [len(indexes)] + indexes:
                n = n << 1
                while n >= 0x80:
                    out.append(n & 0x7F | 0x80)
                    n >>= 7
                out.append(n)
            return bytes(out)
        names = [m.name for m in fraud_pb2.DESCRIPTOR.message_types_by_name.values()]
        framing = {"logins": frame(1, [names.index("Login")]), "geo": frame(1, [names.index("Geo")]),
                   "confirmations": frame(1, [names.index("Confirmation")]), "payments": frame(3), "payments-v2": frame(4)}
        with open(os.path.join(here, "fraud.proto")) as f:
            proto_text = f.read()
        store = {
            "schemas": {
                "1": {"schemaType": "PROTOBUF", "schema": proto_text,
                      "serialized": base64.b64encode(fraud_pb2.DESCRIPTOR.serialized_pb).decode(),
                      "references": [{"name": "google/protobuf/timestamp.proto",
                                      "subject": "google/protobuf/timestamp.proto", "version": 1}]},
                "2": {"schemaType": "PROTOBUF", "schema": "(the well-known type)",
                      "serialized": base64.b64encode(timestamp_pb2.DESCRIPTOR.serialized_pb).decode()},
                "3": {"schemaType": "AVRO", "schema": json.dumps(json.load(open(os.path.join(here, "payment.avsc"))))},
                "4": {"schemaType": "AVRO", "schema": json.dumps(payment_v2)},
            },
            "subjects": {"logins-value": {"1": 1}, "geo-value": {"1": 1}, "confirmations-value": {"1": 1},
                         "google/protobuf/timestamp.proto": {"1": 2}, "payments-value": {"1": 3, "2": 4}},
        }
        with open(args.registry, "w") as f:
            json.dump(store, f)

    def login(e):
        m = fraud_pb2.Login(user=e["user"], ip=e["ip"], country=e["country"])
        m.ts.seconds, m.ts.nanos = divmod(e["ts"], 1000)[0], divmod(e["ts"], 1000)[1] * 1_000_000
        m.device.id, m.device.os = "d-" + e["user"], "android"  # present on the wire, read by no pattern
        return m.SerializeToString()

    def geo(e):
        return fraud_pb2.Geo(user=e["user"], country=e["country"], lat=e["lat"], lon=e["lon"], ts=e["ts"]).SerializeToString()

    def confirmation(e):
        return fraud_pb2.Confirmation(user=e["user"], payment_id=e["payment_id"], ts=e["ts"]).SerializeToString()

    payments = [0]

    def payment(e):
        out = io.BytesIO()
        payments[0] += 1
        if framing and payments[0] % 10 == 0:
            out.write(framing["payments-v2"])
            fastavro.schemaless_writer(out, payment_v2_schema, {**e, "note": None, "channel": "app"})
        else:
            out.write(framing.get("payments", b""))
            fastavro.schemaless_writer(out, payment_schema, {**e, "note": None})
        return out.getvalue()

    encoders = {"logins": login, "geo": geo, "confirmations": confirmation, "payments": payment}
    os.makedirs(args.out, exist_ok=True)
    for topic, encode in encoders.items():
        src = os.path.join(args.src, topic + ".jsonl")
        if not os.path.exists(src):
            continue
        with open(src) as lines, open(os.path.join(args.out, topic + ".b64"), "w") as out:
            for line in lines:
                try:
                    event = json.loads(line)
                    message = encode(event)
                    if topic != "payments":
                        message = framing.get(topic, b"") + message
                except (ValueError, KeyError, TypeError):
                    message = b"\xff\xff\xff"  # a truncated varint: refused by both decoders
                out.write(base64.b64encode(message).decode() + "\n")


if __name__ == "__main__":
    main()
