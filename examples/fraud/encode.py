#!/usr/bin/env python3
"""Re-encode the fraud example's JSON-lines files with the official encoders: logins, geo and confirmations as
Protocol Buffers (fraud.proto, through the module protoc generates), payments as Avro (payment.avsc, fastavro).

Each output file holds one message per line in base64 (the framing `cepd run` reads for binary formats), or, with
--raw, the raw messages for producing to Kafka (`scripts/kafka-tool.py produce --binary`). Lines that are not
JSON objects are written as a message the decoder must refuse (bytes that are not valid protobuf/Avro), so that a
bad line stays a dead letter in both encodings.

  protoc --include_imports --descriptor_set_out=fraud.desc --python_out=GEN fraud.proto
  encode.py --pb2 GEN --in EVENTS_DIR --out OUT_DIR
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
    args = ap.parse_args()
    sys.path.insert(0, args.pb2)
    import fraud_pb2  # noqa: E402  (generated at test time)
    import fastavro  # noqa: E402

    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "payment.avsc")) as f:
        payment_schema = fastavro.parse_schema(json.load(f))

    def login(e):
        m = fraud_pb2.Login(user=e["user"], ip=e["ip"], country=e["country"])
        m.ts.seconds, m.ts.nanos = divmod(e["ts"], 1000)[0], divmod(e["ts"], 1000)[1] * 1_000_000
        m.device.id, m.device.os = "d-" + e["user"], "android"  # present on the wire, read by no pattern
        return m.SerializeToString()

    def geo(e):
        return fraud_pb2.Geo(user=e["user"], country=e["country"], lat=e["lat"], lon=e["lon"], ts=e["ts"]).SerializeToString()

    def confirmation(e):
        return fraud_pb2.Confirmation(user=e["user"], payment_id=e["payment_id"], ts=e["ts"]).SerializeToString()

    def payment(e):
        out = io.BytesIO()
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
                except (ValueError, KeyError, TypeError):
                    message = b"\xff\xff\xff"  # a truncated varint: refused by both decoders
                out.write(base64.b64encode(message).decode() + "\n")


if __name__ == "__main__":
    main()
