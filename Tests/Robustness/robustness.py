#!/usr/bin/env python3
"""Hostile inputs and conditions, table-driven: each case runs the cepd binary in a fresh directory holding the
fixtures below, and checks its exit status, a phrase of its stderr and what it left in the files.

usage: robustness.py CEPD [NAME_SUBSTRING]

A case is a dict: `args` (the cepd arguments; "{cepd}" in a `shell` string is the binary), or `shell` (a bash
command line, for closed descriptors and limits), optional `setup` (a function of the directory), `status`, `stderr`
(a phrase that must appear), `stdout` (likewise), `files` (name -> expected content, or None for "must not exist", or a function that
returns an error message or None). Exit 1 if a case fails, with what it expected and what it got.
"""
import base64
import os
import shutil
import subprocess
import sys
import tempfile

SIMPLE = """stream a from "a" { key k  time ts  lateness 1s  fields { k: string, v: int, ts: time } }
pattern p { match x: a -> y: a where y.v > x.v  within 10s  emit to "out" { k: x.k, d: y.v - x.v } }
"""
EVENTS = '{"k":"u1","v":1,"ts":1000}\n{"k":"u1","v":5,"ts":2000}\nnot json\n'
# Events that make about 40 KB of alerts: enough to fill a small limit.
MANY = "".join('{"k":"u%d","v":%d,"ts":%d}\n' % (i % 50, i, 1000 + i) for i in range(20000))

RUN = ["run", "--pattern", "simple.cep", "--input", "a=ev.jsonl"]

# Avro events (issue 19): the same stream as SIMPLE, one base64 datum per line.
AVRO_SCHEMA = '{"type":"record","name":"R","fields":[{"name":"k","type":"string"},{"name":"v","type":"long"},{"name":"ts","type":"long"}]}'
AVRO_CEP = 'stream a from "a" {\n  format avro "r.avsc"\n  key k  time ts  lateness 1s\n  fields { k: string, v: int, ts: time }\n}\n' \
    + SIMPLE[SIMPLE.index("pattern"):]


def avro_datum(k, v, ts):
    def long(n):
        n = (n << 1) ^ (n >> 63)
        out = bytearray()
        while n >= 0x80:
            out.append(n & 0x7F | 0x80)
            n >>= 7
        return bytes(out + bytes([n]))
    return long(len(k)) + k.encode() + long(v) + long(ts)


def avro_lines(*data):
    return "".join(base64.b64encode(d).decode() + "\n" for d in data)


def avro(name, events, pattern=AVRO_CEP, schema=AVRO_SCHEMA, extra=(), **expected):
    """A replay of the Avro lines `events` through `pattern` over `schema` (r.avsc), with `extra` arguments."""
    def setup(directory):
        write("avro.cep", pattern)(directory)
        write("ev.b64", events)(directory)
        if schema is not None:
            write("r.avsc", schema)(directory)
    return dict(name=name, setup=setup,
                args=["run", "--pattern", "avro.cep", "--input", "a=ev.b64", "--output", "out.jsonl", *extra], **expected)



def on_file(name, judge):
    """A check of the file `name`: `judge(text)` returns what is wrong, or None; a missing file is wrong."""
    def check(directory):
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            return f"{name} is missing"
        with open(path, errors="replace") as f:
            return judge(f.read())
    return check


def unchanged(name, text):
    return on_file(name, lambda got: None if got == text else f"{name} was changed")


def lines(name, count):
    return on_file(name, lambda got: None if got.count("\n") == count
                   else f"{name} has {got.count(chr(10))} lines, expected {count}")


def contains(name, text):
    return on_file(name, lambda got: None if text in got else f"{name} lacks {text!r}")


def write(name, text):
    def setup(directory):
        path = os.path.join(directory, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode())
    return setup


def link(target, name, hard=False):
    def setup(directory):
        (os.link if hard else os.symlink)(os.path.join(directory, target), os.path.join(directory, name))
    return setup


def replay(name, events, **expected):
    """A replay of `events` (the text of ev.jsonl) with alerts to out.jsonl, and what it must give."""
    return dict(name=name, setup=write("ev.jsonl", events), args=RUN + ["--output", "out.jsonl"], **expected)


def resumed(name, between, status, stderr=None, then=None):
    """A checkpointed replay of MANY, the shell command `between`, then the same replay again (and `then`)."""
    replay = "{cepd} run --pattern simple.cep --input a=ev.jsonl --output out.jsonl --state-dir st --quiet"
    case = dict(name=name, setup=write("ev.jsonl", MANY), status=status,
                shell=" && ".join([replay, between, replay] + ([then] if then else [])))
    if stderr:
        case["stderr"] = stderr
    return case


CASES = [
    # A baseline: what the others are measured against.
    dict(name="replay writes alerts, dead letters, no late file", args=RUN + ["--output", "out.jsonl"], status=0,
         stderr="dead letters: 1", files={"out.jsonl": lines("out.jsonl", 1), "dead-letters.jsonl": lines("dead-letters.jsonl", 1),
                                          "late.jsonl": None}),
    # Outputs that cannot be written are refused before anything runs (they were dropped without a word).
    dict(name="dead letters into a missing directory", args=RUN + ["--output", "out.jsonl", "--dead-letters", "nodir/dl.jsonl"],
         status=2, stderr="directory 'nodir' does not exist", files={"out.jsonl": None}),
    dict(name="late events into a missing directory", args=RUN + ["--late", "nodir/late.jsonl"], status=2,
         stderr="directory 'nodir' does not exist"),
    dict(name="output into a missing directory", args=RUN + ["--output", "a/b/out.jsonl"], status=2,
         stderr="directory 'a/b' does not exist"),
    dict(name="late events under a file, not a directory", setup=write("plain", "x"),
         args=RUN + ["--late", "plain/late.jsonl"], status=2, stderr="'plain' is not a directory"),
    dict(name="output is a directory", setup=lambda d: os.mkdir(os.path.join(d, "outdir")),
         args=RUN + ["--output", "outdir"], status=2, stderr="is a directory"),
    dict(name="dead letters is a directory", setup=lambda d: os.mkdir(os.path.join(d, "dl")),
         args=RUN + ["--dead-letters", "dl"], status=2, stderr="is a directory"),
    # An output never overwrites an input (it emptied the input and processed nothing).
    dict(name="output is the input", args=RUN + ["--output", "ev.jsonl"], status=2, stderr="is also --input",
         files={"ev.jsonl": unchanged("ev.jsonl", EVENTS)}),
    dict(name="output is the pattern file", args=RUN + ["--output", "simple.cep"], status=2, stderr="is also --pattern",
         files={"simple.cep": unchanged("simple.cep", SIMPLE)}),
    dict(name="late events into the input", args=RUN + ["--late", "ev.jsonl"], status=2, stderr="is also --input",
         files={"ev.jsonl": unchanged("ev.jsonl", EVENTS)}),
    dict(name="dead letters into the pattern file", args=RUN + ["--dead-letters", "simple.cep"], status=2,
         stderr="is also --pattern", files={"simple.cep": unchanged("simple.cep", SIMPLE)}),
    dict(name="output is the input through a symlink", setup=link("ev.jsonl", "alias.jsonl"),
         args=RUN + ["--output", "alias.jsonl"], status=2, stderr="is also --input",
         files={"ev.jsonl": unchanged("ev.jsonl", EVENTS)}),
    dict(name="output is the input through a hard link", setup=link("ev.jsonl", "hard.jsonl", hard=True),
         args=RUN + ["--output", "hard.jsonl"], status=2, stderr="is also --input",
         files={"ev.jsonl": unchanged("ev.jsonl", EVENTS)}),
    dict(name="output is the input through ./", args=RUN + ["--output", "./ev.jsonl"], status=2, stderr="is also --input"),
    dict(name="two outputs name one file", args=RUN + ["--output", "x.jsonl", "--late", "x.jsonl"], status=2,
         stderr="both name 'x.jsonl'"),
    dict(name="late and dead letters name one new file", args=RUN + ["--late", "x.jsonl", "--dead-letters", "./x.jsonl"],
         status=2, stderr="both name"),
    dict(name="late and dead letters to /dev/null", args=RUN + ["--late", "/dev/null", "--dead-letters", "/dev/null",
                                                                "--output", "out.jsonl"],
         status=0, files={"out.jsonl": lines("out.jsonl", 1)}),
    # Write errors stop the replay with status 5 (they were ignored: exit 0 and a summary claiming every alert).
    dict(name="output to a full device", args=RUN + ["--output", "/dev/full"], status=5, stderr="No space left on device"),
    dict(name="dead letters to a full device", args=RUN + ["--dead-letters", "/dev/full", "--output", "out.jsonl"],
         status=5, stderr="No space left on device"),
    dict(name="alerts to a closed stdout", shell="{cepd} run --pattern simple.cep --input a=ev.jsonl >&-", status=5,
         stderr="cannot write standard output"),
    dict(name="output past the file-size limit", setup=write("ev.jsonl", MANY),
         shell="ulimit -f 8; {cepd} run --pattern simple.cep --input a=ev.jsonl --output big.jsonl", status=5,
         stderr="File too large"),
    dict(name="checkpointed replay to a full device writes no checkpoint", setup=write("ev.jsonl", MANY),
         args=RUN + ["--output", "/dev/full", "--state-dir", "state", "--checkpoint-interval", "1ms"], status=5,
         stderr="no checkpoint was written"),
    # An earlier run's late events or dead letters do not stay as this run's.
    dict(name="an earlier run's dead letters are removed", setup=lambda d: (write("ev.jsonl", EVENTS.replace("not json\n", ""))(d),
                                                                             write("dead-letters.jsonl", "old\n")(d)),
         args=RUN + ["--output", "out.jsonl"], status=0, stderr="dead letters: 0", files={"dead-letters.jsonl": None}),
    dict(name="an earlier run's late events are removed", setup=write("late.jsonl", "old\n"),
         args=RUN + ["--output", "out.jsonl"], status=0, files={"late.jsonl": None}),
]


OVERFLOW = """stream a from "a" { key k  time ts  lateness 1s  fields { k: string, v: int, ts: time } }
pattern p { match x: a -> y: a within 10s
  emit to "out" { big: y.v + 9223372036854775807, diff: x.v - y.v, ab: abs(x.v), neg: -x.v, ok: y.v + 1 } }
pattern s { match xs: a{2} within 10s emit to "sums" { total: sum(xs.v) } }
"""
MIN_THEN_5 = '{"k":"u1","v":-9223372036854775808,"ts":1000}\n{"k":"u1","v":5,"ts":2000}\n'

ANY_COMBINATION = """stream a from "a" { key k  time ts  lateness 1s  fields { k: string, v: int, ts: time } }
stream b from "b" { key k  time ts  lateness 1s  fields { k: string, ts: time } }
pattern p { match xs: a+ any -> y: b within 1h skip none emit to "out" { k: y.k } }
"""

HOLD = """stream a from "a" { key k  time ts  lateness 1s  fields { k: string, v: int, ts: time } }
pattern p { match x: a -> y: a where y.v > x.v within 1d emit to "out" { k: x.k } }
"""
# 30,000 keys, each holding a partial match until its second event, 30,000 events later: megabytes of state, and
# 30,000 alerts a resumed replay must write exactly once.
HOLDING_KEYS = "".join('{"k":"key%06d","v":%d,"ts":%d}\n' % (i % 30000, i, 1000 + i) for i in range(60000))

LONG_TOPIC = "t" * 250
ENVELOPE = """stream a from "a" { key @key  time ts  lateness 1s  fields { v: int, ts: time, @offset: int, @header.tenant: string?, @timestamp: time } }
pattern p { match x: a -> y: a where y.v > x.v  within 10s  emit to "out" { k: x.@key, off: y.@offset, tenant: x.@header.tenant, at: y.@timestamp } }
"""
ENVELOPE_CASES = """case "keyed and timed by the message, with a header"
  a key=c1 timestamp=2026-01-01T00:00:00Z header.tenant="acme corp" {"v":1,"ts":1000}
  a key=c1 timestamp=1767225630000 {"v":5,"ts":2000}
  expect p {"k":"c1","off":1,"tenant":"acme corp","at":1767225630000}

case "no message key: a dead letter"
  a {"v":1,"ts":1000}
  expect dead-letters 1
"""
KCAT = "".join(line + "\n" for line in [
    '{"topic":"a","partition":0,"offset":10,"tstype":"create","ts":1767225600000,"broker":1,"headers":["tenant","acme"],"key":"c1","payload":"{\\"v\\":1,\\"ts\\":1000}"}',
    '{"topic":"a","partition":0,"offset":11,"tstype":"create","ts":1767225630000,"broker":1,"key":"c1","payload":"{\\"v\\":5,\\"ts\\":2000}"}',
    '{"topic":"a","partition":0,"offset":12,"ts":1767225631000,"key":"c1","payload":null}',
    '{"topic":"a","partition":0,"offset":13,"ts":1767225631000,"key":"c1","payload":"not json"}',
    'not kcat',
    '{"topic":"a","partition":0,"offset":14,"key":"c1","payload":"{\\"v\\":0,\\"ts\\":3000}","headers":["odd"]}',
])
SERVE = ["--pattern", "simple.cep", "--brokers", "127.0.0.1:1", "--state-dir", "none"]

CASES += [
    # Lines have a length limit (an endless line grew without bound: 1.5 GB in 1.2 s, or ended the replay early).
    dict(name="a line over --max-line-bytes is a dead letter",
         setup=write("ev.jsonl", "x" * 150 + "\n" + EVENTS.replace("not json\n", "")),
         args=RUN + ["--output", "out.jsonl", "--max-line-bytes", "100"], status=0,
         files={"dead-letters.jsonl": contains("dead-letters.jsonl", "line longer than 100 bytes (150 bytes"),
                "out.jsonl": lines("out.jsonl", 1)}),
    dict(name="a 3 MB line is a dead letter by default",
         setup=write("ev.jsonl", "y" * 3_000_000 + "\n" + EVENTS.replace("not json\n", "")),
         args=RUN + ["--output", "out.jsonl"], status=0,
         files={"dead-letters.jsonl": contains("dead-letters.jsonl", "line longer than 1048576 bytes (3000000 bytes"),
                "out.jsonl": lines("out.jsonl", 1)}),
    dict(name="a last line over the limit without a line break",
         setup=write("ev.jsonl", EVENTS.replace("not json\n", "") + "z" * 300),
         args=RUN + ["--output", "out.jsonl", "--max-line-bytes", "200"], status=0,
         files={"dead-letters.jsonl": contains("dead-letters.jsonl", "(300 bytes"), "out.jsonl": lines("out.jsonl", 1)}),
    # 200 MB without a line break, under a 1 GB address-space limit: the previous build aborted there (and with less
    # room ended the replay early with exit 0 and no dead letter); now the line is skipped as it is read.
    dict(name="a 200 MB line from a pipe runs in bounded memory",
         shell="ulimit -v 1000000; head -c 200000000 /dev/zero | "
               "{cepd} run --pattern simple.cep --input a=/dev/stdin --output out.jsonl", status=0,
         stderr="dead letters: 1",
         files={"dead-letters.jsonl": contains("dead-letters.jsonl", "(200000000 bytes; the value holds its first 1024)")}),
    dict(name="a directory as input", setup=lambda d: os.mkdir(os.path.join(d, "evdir")),
         args=["run", "--pattern", "simple.cep", "--input", "a=evdir"], status=2, stderr="is a directory"),
    dict(name="--max-line-bytes 0", args=RUN + ["--max-line-bytes", "0"], status=2, stderr="--max-line-bytes 0"),
    # Invalid UTF-8 and lone surrogates are dead letters, not U+FFFD (which merged "u\xff" and "u\xfe" into one key and
    # correlated two users' events into a false alert).
    dict(name="keys that differ only in invalid UTF-8 bytes do not correlate",
         setup=write("ev.jsonl", b'{"k":"u\xff","v":1,"ts":1000}\n{"k":"u\xfe","v":5,"ts":2000}\n'),
         args=RUN + ["--output", "out.jsonl"], status=0, stderr="dead letters: 2",
         files={"out.jsonl": lines("out.jsonl", 0),
                "dead-letters.jsonl": contains("dead-letters.jsonl", "invalid UTF-8 in a string")}),
    dict(name="a lone surrogate escape is a dead letter",
         setup=write("ev.jsonl", '{"k":"\\ud800","v":1,"ts":1000}\n{"k":"\\udc00","v":5,"ts":2000}\n'),
         args=RUN + ["--output", "out.jsonl"], status=0, stderr="dead letters: 2",
         files={"out.jsonl": lines("out.jsonl", 0), "dead-letters.jsonl": contains("dead-letters.jsonl", "lone surrogate")}),
    dict(name="a surrogate pair is one character",
         setup=write("ev.jsonl", '{"k":"\\ud83d\\ude00","v":1,"ts":1000}\n{"k":"\\ud83d\\ude00","v":5,"ts":2000}\n'),
         args=RUN + ["--output", "out.jsonl"], status=0, stderr="dead letters: 0",
         files={"out.jsonl": contains("out.jsonl", '"k":"\U0001F600"')}),
    # A checkpointed replay records what it was computed from (another pattern or a changed input resumed into mixed
    # output: 6,677 alerts where either file alone gives 57,000).
    resumed("a finished replay rerun with the same files changes nothing", "cp out.jsonl first.jsonl", 0,
            then="cmp out.jsonl first.jsonl"),
    resumed("a replay resumed under an edited pattern", "sed -i 's/y.v > x.v/y.v >= x.v/' simple.cep", 2,
            stderr="was computed with other patterns (changed: p)"),
    resumed("a replay resumed with a pattern added",
            "printf 'pattern q { match x: a -> y: a within 1s emit to \\\"o\\\" { k: x.k } }\\n' >> simple.cep", 2,
            stderr="new: q"),
    resumed("a replay resumed after its input grew", "echo '{\"k\":\"u1\",\"v\":1,\"ts\":99999999}' >> ev.jsonl", 2,
            stderr="its size went from"),
    resumed("a replay resumed after its input was rewritten to the same size",
            "printf 7 | dd of=ev.jsonl bs=1 seek=14 conv=notrunc status=none && touch -d '2001-01-01' ev.jsonl", 2,
            stderr="it was modified"),
    resumed("a replay resumed with another file at the input's path", "cp -p ev.jsonl copy.jsonl && mv copy.jsonl ev.jsonl",
            2, stderr="it is another file now"),
    # A full disk under --state-dir: status 5 and a resumable state (RocksDB aborted the process: exit 134). Needs
    # root for the small tmpfs, as .ci/run has (it installs packages); without it the case fails, saying so.
    dict(name="a state directory on a full disk", setup=write("ev.jsonl", HOLDING_KEYS),
         shell="mkdir small && mount -t tmpfs -o size=2m tmpfs small || { echo 'cannot mount a tmpfs (root?)' >&2; exit 99; }; "
               "{cepd} run --pattern simple.cep --input a=ev.jsonl --output out.jsonl --state-dir small/st "
               "--checkpoint-interval 1ms --quiet; status=$?; "
               "mount -o remount,size=64m small && {cepd} run --pattern simple.cep --input a=ev.jsonl --output out.jsonl "
               "--state-dir small/st --quiet && {cepd} run --pattern simple.cep --input a=ev.jsonl --output whole.jsonl --quiet "
               "&& cmp out.jsonl whole.jsonl && [ $(wc -l < out.jsonl) = 30000 ] || "
               "{ echo 'the resumed replay differs from an uninterrupted one' >&2; status=98; }; umount small; exit $status",
         setup_pattern=HOLD, status=5, stderr="are free under small/st"),
    # Files as people have them: a byte order mark, a pipe, /dev/null.
    dict(name="a pattern file with a UTF-8 byte order mark", setup=write("simple.cep", b"\xef\xbb\xbf" + SIMPLE.encode()),
         args=["check", "simple.cep"], status=0, stderr="ok: 1 pattern"),
    dict(name="events with a UTF-8 byte order mark", setup=write("ev.jsonl", b"\xef\xbb\xbf" + EVENTS.encode()),
         args=RUN + ["--output", "out.jsonl"], status=0, stderr="dead letters: 1", files={"out.jsonl": lines("out.jsonl", 1)}),
    dict(name="a pattern file from a pipe", shell="{cepd} check <(cat simple.cep)", status=0, stderr="ok: 1 pattern"),
    dict(name="a pattern file from a FIFO", shell="mkfifo p.cep && (cat simple.cep > p.cep &) && {cepd} check p.cep",
         status=0, stderr="ok: 1 pattern"),
    dict(name="an unknown command", args=["bogus"], status=2, stderr="unknown command 'bogus'"),
    dict(name="cepd --version", args=["--version"], status=0, stdout="state formats: engine"),
    dict(name="cepd run --version", args=["run", "--version"], status=0, stdout="librdkafka "),
    dict(name="--output - is stdout, not a file named '-'", args=RUN + ["--output", "-"], status=0,
         stdout='"pattern":"p"', files={"-": None}),
    # Time at its ends: the largest timestamp still matches within a window; the smallest is at the initial
    # watermark, hence late (Flink's `timestamp > currentWatermark` rule); before 1970 is ordinary time.
    replay("an event at the largest timestamp matches",
           '{"k":"u1","v":1,"ts":9223372036854775806}\n{"k":"u1","v":5,"ts":9223372036854775807}\n',
           status=0, files={"out.jsonl": contains("out.jsonl", '"last_ts":9223372036854775807')}),
    replay("an event at the smallest timestamp is late",
           '{"k":"u1","v":1,"ts":-9223372036854775808}\n{"k":"u1","v":5,"ts":1}\n', status=0, stderr="late events: 1",
           files={"out.jsonl": lines("out.jsonl", 0), "late.jsonl": contains("late.jsonl", '"reason":"late"')}),
    replay("events before 1970 match", '{"k":"u1","v":1,"ts":-5000}\n{"k":"u1","v":5,"ts":"1969-12-31T23:59:56Z"}\n',
           status=0, files={"out.jsonl": contains("out.jsonl", '"last_ts":-4000')}),
    # A member given twice: the last one counts, as Jackson (Flink's JSON format) and most parsers read it.
    replay("a member given twice: the last counts",
           '{"k":"u1","v":1,"ts":1000}\n{"k":"u1","v":9,"v":0,"ts":2000}\n{"k":"u1","v":0,"v":7,"ts":3000}\n',
           status=0, files={"out.jsonl": contains("out.jsonl", '"d":6')}),
    # A read error is not the end of the input: status 5, no windows ended as if it were (it was exit 0).
    dict(name="an input that fails to read (EIO)", args=["run", "--pattern", "simple.cep", "--input", "a=/proc/self/mem",
         "--output", "out.jsonl"], status=5, stderr="cannot read /proc/self/mem after 0 lines: Input/output error"),
    # Binary formats: one base64 message per line; what is not a message is a dead letter naming the byte.
    avro("Avro lines match like JSON", avro_lines(avro_datum("u1", 1, 1000), avro_datum("u1", 5, 2000)), status=0,
         stderr="dead letters: 0", files={"out.jsonl": contains("out.jsonl", '"d":4')}),
    avro("bad Avro lines are dead letters with their reason",
         avro_lines(avro_datum("u1", 1, 1000), avro_datum("u1", 5, 2000)[:-1], avro_datum("u1", 5, 2000) + b"\x00")
         + "not base64!\n\n" + avro_lines(b"\x04\xc3\x28\x02\x02", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")
         + avro_lines(avro_datum("u1", 9, 3000)), status=0, stderr="dead letters: 6",
         files={"out.jsonl": contains("out.jsonl", '"d":8'),
                "dead-letters.jsonl": on_file("dead-letters.jsonl", lambda text: None if all(
                    reason in text for reason in
                    ["invalid avro R datum at byte 4: truncated", "1 bytes after the datum", "not base64: byte 3 (' ')",
                     "invalid avro R datum at byte 0: an empty message", "at byte 1: a string: invalid UTF-8",
                     "a varint longer than 64 bits"])
                    else "dead-letters.jsonl lacks a reason: " + text)}),
    # Schema registry options: a stream that reads schema ids needs one; malformed options say what to write.
    avro("a registry stream without --schema-registry", "", pattern=AVRO_CEP.replace('format avro "r.avsc"', "format avro registry"),
         status=2, stderr="stream 'a' (avro.cep:1) reads schemas from a registry: give the registry's URL with --schema-registry"),
    dict(name="--schema-registry that is not a URL",
         setup=write("avro.cep", AVRO_CEP.replace('format avro "r.avsc"', "format avro registry")),
         args=["run", "--pattern", "avro.cep", "--input", "a=ev.jsonl", "--schema-registry", "localhost:8081"],
         status=2, stderr="--schema-registry 'localhost:8081': expected an http:// or https:// URL"),
    dict(name="--schema-registry-auth without a password",
         setup=write("avro.cep", AVRO_CEP.replace('format avro "r.avsc"', "format avro registry")),
         args=["run", "--pattern", "avro.cep", "--input", "a=ev.jsonl", "--schema-registry", "http://127.0.0.1:9",
               "--schema-registry-auth", "alice"], status=2, stderr="--schema-registry-auth: expected USER:PASSWORD"),
    dict(name="--schema-registry-ca that cannot be read",
         setup=write("avro.cep", AVRO_CEP.replace('format avro "r.avsc"', "format avro registry")),
         args=["serve", "--pattern", "avro.cep", "--schema-registry", "https://127.0.0.1:9", "--schema-registry-ca", "nope.pem"],
         status=2, stderr="--schema-registry-ca 'nope.pem': cannot read the file"),
    # A kcat dump of an Avro topic: the payload is base64 in the line.
    avro("a kcat dump of Avro messages", "".join(
        '{"topic":"a","partition":0,"offset":%d,"ts":%d,"key":"u1","payload":"%s"}\n'
        % (i, 1000 * (i + 1), base64.b64encode(avro_datum("u1", v, 1000 * (i + 1))).decode()) for i, v in enumerate([1, 5]))
        + '{"topic":"a","partition":0,"offset":2,"ts":3000,"key":"u1","payload":"{not base64}"}\n',
        extra=("--input-format", "kcat"), status=0, stderr="dead letters: 1",
        files={"out.jsonl": contains("out.jsonl", '"d":4'), "dead-letters.jsonl": contains("dead-letters.jsonl", "'payload': not base64")}),
    avro("a missing Avro schema", "", schema=None, status=1, stderr="avro.cep:2:15: error: cannot read the schema 'r.avsc'"),
    avro("an Avro schema that is not JSON", "", schema="{nope", status=1, stderr="'r.avsc' is not an Avro schema: not JSON"),
    avro("an Avro schema that is not a record", "", schema='"long"', status=1, stderr="the schema is a long, not a record"),
    avro("a recursive Avro schema", "",
         schema='{"type":"record","name":"R","fields":[{"name":"k","type":"string"},{"name":"next","type":["null","R"]}]}',
         status=1, stderr="'R' refers to itself (recursive types are not supported)"),
    avro("a declared field the Avro schema lacks", "", schema=AVRO_SCHEMA.replace('"v"', '"value"'), status=1,
         stderr="avro.cep:4:23: error: field 'v' is not in the schema 'r.avsc': record R has no field 'v'"),
    # `--input-format kcat`: topics dumped with `kcat -C -J` replay with their keys, timestamps and headers.
    dict(name="a kcat dump replays with its envelope", setup=lambda d: (write("env.cep", ENVELOPE)(d), write("dump.jsonl", KCAT)(d)),
         args=["run", "--pattern", "env.cep", "--input", "a=dump.jsonl", "--input-format", "kcat", "--output", "out.jsonl"],
         status=0, stderr="dead letters: 4",
         files={"out.jsonl": contains("out.jsonl", '{"k":"c1","off":11,"tenant":"acme","at":1767225630000,"_match"'),
                "dead-letters.jsonl": on_file("dead-letters.jsonl", lambda text: None if all(
                    reason in text for reason in
                    ["null value (a tombstone", "an event must be a JSON object", "not a kcat -J line: not a JSON object",
                     "'headers' must be a list of names and values"])
                    else "dead-letters.jsonl lacks a reason")}),
    dict(name="a kcat dump read as values", setup=lambda d: (write("env.cep", ENVELOPE)(d), write("dump.jsonl", KCAT)(d)),
         args=["run", "--pattern", "env.cep", "--input", "a=dump.jsonl", "--output", "out.jsonl"],
         status=0, stderr="dead letters: 6", files={"dead-letters.jsonl": contains("dead-letters.jsonl", "field 'v': missing")}),
    dict(name="a replay resumed with another --input-format", setup=lambda d: (write("env.cep", ENVELOPE)(d), write("dump.jsonl", KCAT)(d)),
         shell="{cepd} run --pattern env.cep --input a=dump.jsonl --input-format kcat --output out.jsonl --state-dir st --quiet && "
               "{cepd} run --pattern env.cep --input a=dump.jsonl --output out.jsonl --state-dir st",
         status=2, stderr="read its inputs as --input-format kcat"),
    # `cepd test` cases give an event's key, timestamp and headers before its JSON.
    dict(name="test cases with a message key, timestamp and headers", setup=lambda d: (
        write("env.cep", ENVELOPE)(d), write("env.cases", ENVELOPE_CASES)(d)),
         args=["test", "env.cep", "--cases", "env.cases"], status=0, stdout="2 cases, 0 failed"),
    dict(name="a test case with an unknown message part", setup=lambda d: (
        write("env.cep", ENVELOPE)(d), write("env.cases", 'case "x"\n  a partition=1 {"v":1,"ts":1}\n')(d)),
         args=["test", "env.cep", "--cases", "env.cases"], status=2, stderr="env.cases:2: 'partition=' is not a part of a message"),
    # Text as it arrives: from a pipe, with Windows line ends, canonically equivalent keys.
    dict(name="events from a pipe", shell="cat ev.jsonl | {cepd} run --pattern simple.cep --input a=/dev/stdin --output out.jsonl",
         status=0, stderr="dead letters: 1", files={"out.jsonl": lines("out.jsonl", 1)}),
    replay("events with CRLF line ends", EVENTS.replace("\n", "\r\n"), status=0, stderr="dead letters: 1",
           files={"out.jsonl": lines("out.jsonl", 1)}),
    dict(name="a pattern file with CRLF line ends", setup=write("simple.cep", SIMPLE.replace("\n", "\r\n")),
         args=["check", "simple.cep"], status=0, stderr="ok: 1 pattern"),
    replay("keys equal only under Unicode normalization are different keys",
           '{"k":"\\u00e9","v":1,"ts":1000}\n{"k":"e\\u0301","v":5,"ts":2000}\n', status=0,
           files={"out.jsonl": lines("out.jsonl", 0)}),
    dict(name="an empty pattern file checks", setup=write("empty.cep", ""), args=["check", "empty.cep"], status=0,
         stderr="ok: 0 patterns"),
    # Generated rules: chains of hundreds of conditions compile (128 were "nested too deep"); arithmetic chains that
    # long are still refused (they are not associative under overflow, so they stay as written).
    dict(name="500 conditions joined by 'and'", setup=write("chain.cep", SIMPLE.replace(
        "where y.v > x.v", "where " + " and ".join(f"y.v != {-i}" for i in range(1, 501)))),
         args=["check", "chain.cep"], status=0, stderr="ok: 1 pattern"),
    dict(name="500 conditions joined by 'or'", setup=write("chain.cep", SIMPLE.replace(
        "where y.v > x.v", "where " + " or ".join(f"y.v == {i}" for i in range(1, 501)))),
         args=["check", "chain.cep"], status=0, stderr="ok: 1 pattern"),
    dict(name="a sum of 200 terms", setup=write("chain.cep", SIMPLE.replace(
        "where y.v > x.v", "where " + " + ".join("y.v" for _ in range(200)) + " > 0")),
         args=["check", "chain.cep"], status=1, stderr="[nesting-too-deep]"),
    # A pattern that takes every combination ('any') is capped per key by default (40 events of one key took 3 GB).
    dict(name="every combination of 24 events stays within memory",
         setup=lambda d: (write("simple.cep", ANY_COMBINATION)(d),
                          write("ev.jsonl", "".join('{"k":"u1","v":%d,"ts":%d}\n' % (i, 1000 + i) for i in range(24)))(d)),
         shell="ulimit -v 2000000; {cepd} run --pattern simple.cep --input a=ev.jsonl --output out.jsonl", status=0,
         stderr="partial matches dropped over the cap"),
    dict(name="cepd check warns about every combination", setup=write("simple.cep", ANY_COMBINATION),
         args=["check", "simple.cep"], status=0, stderr="[combinations]"),
    # Messages that say what is wrong ("not a duration", "got float" said something else).
    dict(name="a duration too large for 64 bits", setup=write("simple.cep", SIMPLE.replace("within 10s", "within 999999999999999d")),
         args=["check", "simple.cep"], status=1, stderr="is too large"),
    dict(name="an integer beyond 64 bits in an event", setup=write("ev.jsonl", '{"k":"u1","v":99999999999999999999,"ts":1000}\n'),
         args=RUN + ["--output", "out.jsonl"], status=0,
         files={"dead-letters.jsonl": contains("dead-letters.jsonl", "the integer is out of the 64-bit range")}),
    dict(name="a time beyond 64 bits in an event", setup=write("ev.jsonl", '{"k":"u1","v":1,"ts":-99999999999999999999}\n'),
         args=RUN + ["--output", "out.jsonl"], status=0,
         files={"dead-letters.jsonl": contains("dead-letters.jsonl", "field 'ts': the integer is out of the 64-bit range")}),
    # One rule for integer overflow: null (it wrapped: a negative sum of positives, MAX - MIN = -1).
    dict(name="integer overflow is null, never wrapped",
         setup=lambda d: (write("simple.cep", OVERFLOW)(d), write("ev.jsonl", MIN_THEN_5)(d)),
         args=RUN + ["--output", "out.jsonl"], status=0,
         files={"out.jsonl": contains("out.jsonl", '"big":null,"diff":null,"ab":null,"neg":null,"ok":6')}),
    dict(name="a sum that overflows is null",
         setup=lambda d: (write("simple.cep", OVERFLOW)(d),
                          write("ev.jsonl", '{"k":"u1","v":9223372036854775807,"ts":1000}\n{"k":"u1","v":1,"ts":2000}\n')(d)),
         args=RUN + ["--output", "out.jsonl"], status=0, files={"out.jsonl": contains("out.jsonl", '"total":null')}),
    # Names Kafka would refuse are refused up front (a bad emit topic stopped `serve` at every restart's first alert).
    dict(name="emit to a topic with a space", setup=write("simple.cep", SIMPLE.replace('"out"', '"bad topic!"')),
         args=["check", "simple.cep"], status=1, stderr="[invalid-topic]"),
    dict(name="emit to a 250-character topic", setup=write("simple.cep", SIMPLE.replace('"out"', '"%s"' % LONG_TOPIC)),
         args=["check", "simple.cep"], status=1, stderr="at most 249 characters"),
    dict(name="stream from the topic '..'", setup=write("simple.cep", SIMPLE.replace('from "a"', 'from ".."')),
         args=["check", "simple.cep"], status=1, stderr="[invalid-topic]"),
    dict(name="stream from a topic with a control character",
         setup=write("simple.cep", SIMPLE.replace('from "a"', 'from "a\tb"')),
         args=["check", "simple.cep"], status=1, stderr="control character U+0009"),
    dict(name="a bad --late-topic", args=SERVE + ["--late-topic", "late events"], status=2, stderr="--late-topic 'late events'"),
    dict(name="a too long --dead-letter-topic", args=SERVE + ["--dead-letter-topic", LONG_TOPIC], status=2,
         stderr="at most 249 characters"),
    dict(name="an empty --group", args=SERVE + ["--group", ""], status=2, stderr="--group cannot be empty"),
    dict(name="a blank --group", args=SERVE + ["--group", "  "], status=2, stderr="--group cannot be empty"),
    # The admin port has no authentication: not beyond loopback unless told.
    dict(name="admin port on all interfaces", args=SERVE + ["--metrics-port", "0", "--metrics-host", "0.0.0.0"],
         status=2, stderr="--admin-insecure"),
    dict(name="admin port on a LAN address", args=SERVE + ["--metrics-port", "9464", "--metrics-host", "10.1.2.3"],
         status=2, stderr="no authentication"),
    # A port out of range is a usage error (it crashed with SIGILL).
    dict(name="inspect with a port above 65535", args=["inspect", "--key", "u1", "--admin-port", "70000"], status=2,
         stderr="expected a port number from 1 to 65535"),
    dict(name="inspect with port 0", args=["inspect", "--key", "u1", "--admin-port", "0"], status=2,
         stderr="expected a port number"),
    dict(name="inspect with a negative port", args=["inspect", "--key", "u1", "--admin-port=-5"], status=2,
         stderr="expected a port number"),
]


# Malformed event lines: each is a dead letter with a reason that names the problem, and the replay goes on (the
# valid pair after it still matches).
DEEP = '{"k":"u1","v":1,"ts":1000,"deep":' + "[" * 70 + "1" + "]" * 70 + "}"
MALFORMED = [
    ("an unfinished object", "{", "expected a member name in quotes"),
    ("an array", "[]", "an event must be a JSON object"),
    ("a string", '"str"', "an event must be a JSON object"),
    ("a number", "42", "an event must be a JSON object"),
    ("null", "null", "an event must be a JSON object"),
    ("no time field", '{"k":"u1","v":1}', "field 'ts': missing"),
    ("no key field", '{"v":1,"ts":1000}', "field 'k': missing"),
    ("a string for an int", '{"k":"u1","v":"one","ts":1000}', "field 'v': expected int, got string"),
    ("a bool for a time", '{"k":"u1","v":1,"ts":true}', "field 'ts': expected time"),
    ("a fraction for an int", '{"k":"u1","v":1.5,"ts":1000}', "field 'v': expected int, got float"),
    ("text after the object", '{"k":"u1","v":1,"ts":1000} trailing', "unexpected text after the JSON object"),
    ("a trailing comma", '{"k":"u1","v":1,"ts":1000,}', "expected a member name in quotes"),
    ("NaN", '{"k":"u1","v":NaN,"ts":1000}', "unexpected character"),
    ("a float overflow for an int", '{"k":"u1","v":1e400,"ts":1000}', "field 'v': expected int, got float"),
    ("a control character in a string", '{"k":"u\x01","v":1,"ts":1000}', "control character in a string"),
    ("an unterminated key string", '{"k":"u1,"v":1,"ts":1000}', "expected ',' or '}' in an object"),
    ("an empty line", "", "empty line"),
    ("a blank line", "   ", "empty line"),
    ("a null key", '{"k":null,"v":1,"ts":1000}', "field 'k': null, but the field is not optional"),
    ("a time that is not RFC 3339", '{"k":"u1","v":1,"ts":"yesterday"}', "'yesterday' is not an RFC 3339 time"),
    ("an array for a string", '{"k":["u1"],"v":1,"ts":1000}', "field 'k': expected string, got object or array"),
    ("two objects on a line", '{"k":"u1","v":1,"ts":1000}{"k":"u2"}', "unexpected text after the JSON object"),
    ("nesting deeper than 64 in an unread member", DEEP, "JSON nested too deeply"),
    ("a leading zero", '{"k":"u1","v":01,"ts":1000}', "expected ',' or '}' in an object"),
    ("a lone minus", '{"k":"u1","v":-,"ts":1000}', "invalid number"),
    ("single quotes", "{'k':'u1'}", "expected a member name in quotes"),
    ("a NUL byte after the object", '{"k":"u1","v":1,"ts":1000}\x00', "unexpected text after the JSON object"),
    ("a NUL byte inside a string", '{"k":"u\x001","v":1,"ts":1000}', "control character in a string"),
    ("an unfinished escape", '{"k":"u1\\","v":1,"ts":1000}', "expected ',' or '}' in an object"),
    ("a bad \\u escape", '{"k":"\\u12G4","v":1,"ts":1000}', "invalid \\\\u escape"),
]
for what, line, reason in MALFORMED:
    CASES.append(dict(
        name=f"a malformed event: {what}", setup=write("ev.jsonl", line + "\n" + EVENTS.replace("not json\n", "")),
        args=RUN + ["--output", "out.jsonl"], status=0, stderr="dead letters: 1",
        files={"dead-letters.jsonl": contains("dead-letters.jsonl", reason), "out.jsonl": lines("out.jsonl", 1)}))

# Bad options: one line that says what to give, status 2, before anything runs.
BAD_OPTIONS = [
    (["run", "--pattern", "simple.cep", "--input", "a"], "must be TOPIC=FILE"),
    (["run", "--pattern", "simple.cep", "--input", "=ev.jsonl"], "must be TOPIC=FILE"),
    (["run", "--pattern", "simple.cep", "--input", "b=ev.jsonl"], "no stream reads topic 'b' (topics: a)"),
    (["run", "--pattern", "simple.cep", "--input", "a=missing.jsonl"], "cannot read 'missing.jsonl'"),
    (["run", "--pattern", "missing.cep", "--input", "a=ev.jsonl"], "cannot read 'missing.cep'"),
    (RUN + ["--checkpoint-interval", "5x"], "expected a duration"),
    (RUN + ["--max-partial-matches", "0"], "1 or more"),
    (RUN + ["--max-partial-matches-per-key", "0"], "1 or more"),
    (RUN + ["--state-dir", "st"], "--state-dir needs --output"),
    (["check"], "Missing expected argument"),
    (["check", "missing.cep"], "cannot read 'missing.cep'"),
    (["explain", "missing.cep"], "cannot read 'missing.cep'"),
    (["test", "missing.cep"], "cannot read 'missing.cep'"),
    (SERVE + ["--from", "yesterday"], "expected earliest, latest or an RFC 3339 time"),
    (SERVE + ["--idle-timeout", "forever"], "expected a duration"),
    (SERVE + ["--metrics-port", "70000"], "expected a port number"),
    (SERVE + ["--config", "missing.conf"], "cannot read the file"),
    (SERVE + ["--shutdown-timeout", "0x"], "expected a duration"),
    (SERVE + ["--log-format", "xml"], "Please provide one of 'text' and 'json'"),
    (RUN + ["--input-format", "avro"], "Please provide one of 'json' and 'kcat'"),
    # A negative number is a value to judge, not an unknown option ("Missing value" before).
    (RUN + ["--max-line-bytes", "-5"], "--max-line-bytes -5: expected a positive number"),
    (RUN + ["--max-partial-matches", "-1"], "--max-partial-matches -1: expected a number of partial matches"),
    (RUN + ["--max-partial-matches-per-key", "-3"], "--max-partial-matches-per-key -3: expected a number"),
    (RUN + ["--checkpoint-interval", "-5s"], "--checkpoint-interval '-5s': expected a duration"),
    (RUN + ["--max-line-bytes", "lots"], "The value 'lots' is invalid for '--max-line-bytes"),
    (SERVE + ["--metrics-port", "-1"], "--metrics-port -1: expected a port number"),
    (SERVE + ["--idle-timeout", "-1s"], "--idle-timeout '-1s': expected a duration"),
    (SERVE + ["--connect-timeout", "-30s"], "--connect-timeout '-30s': expected a duration"),
    (SERVE + ["--commit-interval", "-5s"], "--commit-interval '-5s': expected a duration"),
    (SERVE + ["--checkpoint-interval", "-10s"], "--checkpoint-interval '-10s': expected a duration"),
    (SERVE + ["--shutdown-timeout", "-1m"], "--shutdown-timeout '-1m': expected a duration"),
    (SERVE + ["--idle-timeout", "9999999999999999d"], "--idle-timeout '9999999999999999d': too large a duration"),
    (SERVE + ["--connect-timeout", "1h30"], "--connect-timeout '1h30': expected a duration"),
    (["inspect", "--key", "u1", "--admin-port", "-5"], "--admin-port -5: expected a port number"),
    # An option's value forgotten: the next option is not taken for it.
    (RUN + ["--output"], "Missing value for '--output <output>'"),
    (RUN + ["--max-line-bytes", "99999999999999999999"], "The value '99999999999999999999' is invalid"),
    (["run", "--pattern", "empty.cep", "--input", "a=ev.jsonl"], "the pattern files declare no pattern"),
    (RUN + ["--output", "out.jsonl", "--state-dir", "ev.jsonl"], "is a file, not a directory"),
    (SERVE + ["--brokers"], "Missing value for '--brokers <brokers>'"),
]
for args, phrase in BAD_OPTIONS:
    CASES.append(dict(name="bad options: cepd " + " ".join(args), args=args, status=2, stderr=phrase,
                      setup=write("empty.cep", ""), files={"ev.jsonl": unchanged("ev.jsonl", EVENTS)}))


# Hostile pattern files: a diagnostic with its id and status 1, never a crash or a hang.
A_STREAM = b'stream a from "a" { key k time ts fields { k: string, ts: time } }\n'
HOSTILE_CEP = [
    ("binary garbage", bytes(range(256)) * 4, "[invalid-character]"),
    ("100,000 nested parentheses", b'pattern p { match x: a where ' + b"(" * 100000 + b"1" + b")" * 100000
     + b' emit to "o" { } }\n', "[nesting-too-deep]"),
    ("a NUL byte", A_STREAM.rstrip(b"\n") + b"\x00\n", "[invalid-character]"),
    ("an unterminated string", b'stream a from "a { key k time ts fields { k: string, ts: time } }\n', "[unterminated-string]"),
    ("an unclosed brace", b'stream a from "a" { key k time ts fields { k: string, ts: time }\n', "[expected-token]"),
    ("an empty topic", b'stream a from "" { key k time ts fields { k: string, ts: time } }\n', "[empty-topic]"),
    ("a stream without a key", b'stream a from "a" { time ts fields { k: string, ts: time } }\n'
     b'pattern p { match x: a -> y: a within 1m emit to "o" { k: x.k } }\n', "[missing-key]"),
    ("a step read before it binds", A_STREAM + b'pattern p { match x: a where x.k == y.k -> y: a within 1m emit to "o" { k: x.k } }\n',
     "[binding-used-before-bound]"),
    ("one step name twice", A_STREAM + b'pattern p { match x: a -> x: a within 1m emit to "o" { k: x.k } }\n',
     "[duplicate-binding]"),
    ("a quantifier {3,2}", A_STREAM + b'pattern p { match x: a{3,2} -> y: a within 1m emit to "o" { k: y.k } }\n',
     "[invalid-quantifier]"),
    ("a quantifier beyond any count", A_STREAM
     + b'pattern p { match x: a{99999999999} -> y: a within 1m emit to "o" { k: y.k } }\n', "[invalid-quantifier]"),
    ("a table read as a step", A_STREAM + b'table t from "t" { key k fields { k: string } }\n'
     b'pattern p { match x: a -> y: t within 1m emit to "o" { k: x.k } }\n', "[table-as-step]"),
    ("a whole row as a value", A_STREAM + b'table t from "t" { key k fields { k: string } }\n'
     b'pattern p { match x: a where lookup(t, x.k) == "x" within 1m emit to "o" { k: x.k } }\n', "[row-not-a-value]"),
    ("a table on a stream's topic", A_STREAM + b'table t from "a" { key k fields { k: string } }\n',
     "[table-topic-shared]"),
]
for what, text, phrase in HOSTILE_CEP:
    CASES.append(dict(name=f"a hostile pattern file: {what}", setup=write("bad.cep", text), args=["check", "bad.cep"],
                      status=1, stderr=phrase))


# Tables (issue 23): a table's file may hold garbage and tombstones; each bad line is a dead letter with its reason,
# and the daemon, which does not read tables yet, says so.
TABLE_CEP = """stream a from "a" { key k  time ts  lateness 1s  fields { k: string, v: int, ts: time } }
table t from "t" { key k  fields { k: string, lim: int } }
pattern p { match x: a where x.v > (lookup(t, x.k).lim ?? 3)  within 10s  emit to "out" { k: x.k, lim: lookup(t, x.k).lim } }
"""
TABLE_ROWS = ('{"topic":"t","partition":0,"offset":0,"ts":0,"key":"u1","payload":"{\\"k\\":\\"u1\\",\\"lim\\":0}"}\n'
              'not json\n'
              '{"topic":"t","partition":0,"offset":2,"ts":0,"key":null,"payload":null}\n'
              '{"topic":"t","partition":0,"offset":3,"ts":0,"key":"u2","payload":"{\\"k\\":\\"u2\\"}"}\n')
TABLE_EVENTS = '{"topic":"a","partition":0,"offset":0,"ts":1000,"key":"u1","payload":"{\\"k\\":\\"u1\\",\\"v\\":1,\\"ts\\":1000}"}\n'


def tables_setup(directory):
    for name, text in (("tables.cep", TABLE_CEP), ("t.kcat", TABLE_ROWS), ("a.kcat", TABLE_EVENTS)):
        write(name, text)(directory)


CASES += [
    dict(name="a table file with garbage, a tombstone without a key and a row without a field", setup=tables_setup,
         args=["run", "--pattern", "tables.cep", "--input", "t=t.kcat", "--input", "a=a.kcat", "--input-format", "kcat",
               "--output", "out.jsonl"],
         status=0, stderr="dead letters: 3",
         files={"out.jsonl": contains("out.jsonl", '"lim":0'),
                "dead-letters.jsonl": lambda d: None if all(
                    phrase in open(os.path.join(d, "dead-letters.jsonl")).read()
                    for phrase in ("a tombstone without a message key", "lim")) else "reasons missing"}),
    dict(name="the daemon refuses tables in one line", setup=tables_setup,
         args=["serve", "--pattern", "tables.cep", "--brokers", "127.0.0.1:1"], status=2,
         stderr="does not read tables yet"),
]


def run_case(cepd, case):
    directory = tempfile.mkdtemp(prefix="cepd-robust-")
    try:
        write("simple.cep", SIMPLE)(directory)
        write("ev.jsonl", EVENTS)(directory)
        if "setup" in case:
            case["setup"](directory)
        if "setup_pattern" in case:
            write("simple.cep", case["setup_pattern"])(directory)
        if "shell" in case:
            command = ["bash", "-c", case["shell"].replace("{cepd}", cepd)]
        else:
            command = [cepd] + case["args"]
        try:
            done = subprocess.run(command, cwd=directory, capture_output=True, text=True, errors="replace", timeout=120)
        except subprocess.TimeoutExpired:
            return "no exit within 120 s"
        problems = []
        if done.returncode != case["status"]:
            problems.append(f"exit status {done.returncode}, expected {case['status']}")
        if "stderr" in case and case["stderr"] not in done.stderr:
            problems.append(f"stderr lacks {case['stderr']!r}")
        if "stdout" in case and case["stdout"] not in done.stdout:
            problems.append(f"stdout lacks {case['stdout']!r}")
        for name, expected in case.get("files", {}).items():
            path = os.path.join(directory, name)
            if expected is None:
                if os.path.exists(path):
                    problems.append(f"{name} exists")
            elif callable(expected):
                message = expected(directory)
                if message:
                    problems.append(message)
        if problems:
            return "; ".join(problems) + "\n    stderr: " + done.stderr.strip().replace("\n", "\n            ")
        return None
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main():
    cepd = os.path.abspath(sys.argv[1])
    only = sys.argv[2] if len(sys.argv) > 2 else ""
    failed = 0
    cases = [c for c in CASES if only in c["name"]]
    for case in cases:
        problem = run_case(cepd, case)
        print(("✘ " if problem else "✔ ") + case["name"] + (f"\n    {problem}" if problem else ""))
        failed += bool(problem)
    print(f"robustness: {len(cases) - failed} of {len(cases)} cases hold")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
