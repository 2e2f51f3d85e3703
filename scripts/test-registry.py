#!/usr/bin/env python3
"""A small schema registry for the tests: the read side of the Confluent Schema Registry REST API that cepd uses
(no Confluent-compatible registry installs here without a network).

  GET /schemas/ids/{id}                              {"schema": TEXT, "schemaType": T, "references": [...]}
  GET /schemas/ids/{id}?format=serialized            Protobuf: "schema" is the base64 FileDescriptorProto
  GET /subjects/{subject}/versions/{version|latest}  the same, with "subject", "version", "id"
  POST /subjects/{subject}/versions {"schema": TEXT}  registers an Avro schema: {"id": N} (the same text, the same id)
  GET /_requests                                     (tests only) how many GETs each path got

Schemas come from a JSON file (what examples/fraud/encode.py --registry writes):
  {"schemas": {"1": {"schemaType": "PROTOBUF", "schema": ".proto text", "serialized": "base64", "references": [...]}},
   "subjects": {"logins-value": {"1": 1}}}

  test-registry.py --schemas FILE --port PORT [--auth USER:PASSWORD] [--tls CERT.pem KEY.pem]
      (answers 401 without the credentials; with --tls, HTTPS only)
"""
import argparse
import base64
import collections
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schemas", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--auth")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS with this certificate and key")
    args = ap.parse_args()
    with open(args.schemas) as f:
        store = json.load(f)
    requests = collections.Counter()
    lock = threading.Lock()
    expected = "Basic " + base64.b64encode(args.auth.encode()).decode() if args.auth else None

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]
            if parts == ["_requests"]:
                with lock:
                    return self.answer(200, dict(requests))
            with lock:
                requests[self.path] += 1
            if expected and self.headers.get("Authorization") != expected:
                return self.answer(401, {"error_code": 401, "message": "Unauthorized"})
            serialized = query.get("format") == ["serialized"]
            if len(parts) == 3 and parts[:2] == ["schemas", "ids"]:
                entry = store["schemas"].get(parts[2])
                if entry is None:
                    return self.answer(404, {"error_code": 40403, "message": "Schema not found"})
                return self.answer(200, self.schema(entry, serialized))
            if len(parts) == 4 and parts[0] == "subjects" and parts[2] == "versions":
                versions = store["subjects"].get(parts[1], {})
                version = max(versions, key=int) if parts[3] == "latest" and versions else parts[3]
                if version not in versions:
                    return self.answer(404, {"error_code": 40402, "message": "Version not found"})
                entry = store["schemas"][str(versions[version])]
                body = self.schema(entry, serialized)
                body.update(subject=parts[1], version=int(version), id=versions[version])
                return self.answer(200, body)
            self.answer(404, {"error_code": 404, "message": "HTTP 404 Not Found"})

        def do_POST(self):
            parts = [urllib.parse.unquote(p) for p in urllib.parse.urlsplit(self.path).path.strip("/").split("/")]
            if expected and self.headers.get("Authorization") != expected:
                return self.answer(401, {"error_code": 401, "message": "Unauthorized"})
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if len(parts) != 3 or parts[0] != "subjects" or parts[2] != "versions" or not isinstance(body.get("schema"), str):
                return self.answer(422, {"error_code": 42201, "message": "Invalid schema"})
            with lock:
                requests["POST " + self.path] += 1
                schemas = store["schemas"]
                found = next((int(i) for i, e in schemas.items()
                              if e.get("schemaType", "AVRO") == "AVRO" and e["schema"] == body["schema"]), None)
                if found is None:
                    found = max(map(int, schemas), default=0) + 1
                    schemas[str(found)] = {"schemaType": "AVRO", "schema": body["schema"]}
                versions = store["subjects"].setdefault(parts[1], {})
                if found not in versions.values():
                    versions[str(len(versions) + 1)] = found
            self.answer(200, {"id": found})

        @staticmethod
        def schema(entry, serialized):
            body = {"schema": entry["serialized"] if serialized and "serialized" in entry else entry["schema"]}
            if entry.get("schemaType", "AVRO") != "AVRO":
                body["schemaType"] = entry["schemaType"]
            if entry.get("references"):
                body["references"] = entry["references"]
            return body

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    if args.tls:
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*args.tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"registry: listening on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
