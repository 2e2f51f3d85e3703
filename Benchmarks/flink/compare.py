#!/usr/bin/env python3
"""Same matches as Flink CEP 2.3? Runs cepd and Flink CEP on the same replay files and compares the match sets.

usage: compare.py --cepd PATH --flink-lib DIR --classes DIR --input TOPIC=FILE ... [--patterns fraud,strict,...]

FLINK-LIB is pyflink/lib of the wheel apache-flink-libraries==2.3.0; CLASSES holds the compiled harness
(prepare.sh builds both). A match is written by both engines as "<pattern> <step>=<topic>:<offset> ...";
the multisets are compared per pattern and the differences (if any) printed.
"""
import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def cepd_matches(args, workdir):
    out = os.path.join(workdir, "cepd-alerts.jsonl")
    cmd = [args.cepd, "run", "--pattern", os.path.join(HERE, "patterns.cep"), "--output", out,
           "--late", os.path.join(workdir, "late.jsonl"), "--dead-letters", os.path.join(workdir, "dead.jsonl")]
    for i in args.input:
        cmd += ["--input", i]
    start = time.time()
    subprocess.run(cmd, check=True)
    seconds = time.time() - start
    result = collections.defaultdict(collections.Counter)
    with open(out) as f:
        for line in f:
            m = json.loads(line)["_match"]
            refs = " ".join(f"{e['step']}={e['topic']}:{e['offset']}" for e in m["events"])
            result[m["pattern"]][f"{m['pattern']} {refs}"] += 1
    return result, seconds


def flink_matches(args, pattern, workdir):
    out = os.path.join(workdir, f"flink-{pattern}.txt")
    cp = os.pathsep.join([args.classes, os.path.join(args.flink_lib, "*")])
    cmd = ["java", "-Xmx4g", "-cp", cp, "FlinkCepHarness", pattern, out] + args.input
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        return collections.Counter(line.rstrip("\n") for line in f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cepd", required=True)
    ap.add_argument("--flink-lib", required=True)
    ap.add_argument("--classes", required=True)
    ap.add_argument("--input", action="append", required=True)
    ap.add_argument("--patterns", default="fraud,strict,probes,noskip,stepwindow,greedy")
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="cepd-vs-flink-")
    sys.stdout.reconfigure(line_buffering=True)
    ours, seconds = cepd_matches(args, workdir)
    print(f"cepd: {seconds:.1f} s (whole process)")
    failed = False
    for pattern in args.patterns.split(","):
        theirs = flink_matches(args, pattern, workdir)
        mine = ours.get(pattern, collections.Counter())
        equal = mine == theirs
        failed |= not equal
        print(f"{pattern}: cepd {sum(mine.values())} matches, flink {sum(theirs.values())} matches: "
              + ("EQUAL" if equal else "DIFFERENT"))
        if not equal:
            for line in sorted((mine - theirs).elements())[:10]:
                print("  only cepd: ", line)
            for line in sorted((theirs - mine).elements())[:10]:
                print("  only flink:", line)
    shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
