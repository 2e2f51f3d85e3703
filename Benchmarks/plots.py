"""The plots of docs/performance.md, from the JSON the benchmark scripts write.

  python3 Benchmarks/plots.py [--keys out/bench/keys.json] [--kafka out/bench/kafka.json] [--out docs/img]

Makes throughput-vs-keys.png (Benchmarks/keys.sh) and latency-distribution.png (Benchmarks/kafka/run.sh: cepd's
latency and, dashed, the relay floor of the same run at each rate), each only
when its input exists. Needs matplotlib: Benchmarks/plots.sh runs it with matplotlib installed into a virtual
environment under .cache.
"""
import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def throughput_vs_keys(path, out):
    rows = sorted(json.load(open(path)), key=lambda r: r["users"])
    users = [r["users"] for r in rows]
    rate = [r["events"] / r["seconds"] / 1000 for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot(users, rate, marker="o")
    for u, r in zip(users, rate):
        ax.annotate(f"{r:,.0f}k", (u, r), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("keys (users)")
    ax.set_ylabel("thousand events/s")
    ax.set_ylim(bottom=0)
    ax.set_title(f"cepd run, fraud pattern, {rows[0]['events']:,} events, whole process")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "throughput-vs-keys.png"), dpi=120)


def latency_distribution(path, out):
    result = json.load(open(path))
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for run in result["rates"]:
        quantiles = run["latency"].get("quantiles_ms")
        if not quantiles:
            continue
        fractions = [q / (len(quantiles) - 1) for q in range(len(quantiles))]
        (line,) = ax.plot(quantiles, fractions, label=f"{run['rate']:,} events/s")
        # The relay floor of the same run (relay.c: two broker crossings, no processing), dashed in the same colour.
        floor = run.get("floor", {}).get("quantiles_ms")
        if floor:
            ax.plot(floor, [q / (len(floor) - 1) for q in range(len(floor))], linestyle="--", color=line.get_color(),
                    label=f"relay floor, {run['rate']:,}/s")
    ax.set_xscale("log")
    ax.set_xlabel("alert latency beyond the watermark (ms)")
    ax.set_ylabel("fraction of alerts")
    ax.set_title("cepd serve through Tansu, fraud pattern")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "latency-distribution.png"), dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", default="out/bench/keys.json")
    parser.add_argument("--kafka", default="out/bench/kafka.json")
    parser.add_argument("--out", default="docs/img")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if os.path.exists(args.keys):
        throughput_vs_keys(args.keys, args.out)
        print(f"{args.out}/throughput-vs-keys.png")
    if os.path.exists(args.kafka):
        latency_distribution(args.kafka, args.out)
        print(f"{args.out}/latency-distribution.png")


if __name__ == "__main__":
    main()
