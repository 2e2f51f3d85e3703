#!/usr/bin/env python3
"""Deterministic event generator for the fraud example: one JSON-lines file per topic.

Same arguments, same bytes: everything comes from one seeded random generator.

Normal traffic: users log in from their home country, send location signals (mostly at home) and pay (mostly
small amounts, some confirmed). Planted into it:
  * account takeovers (login, a location signal from another country, a payment over 1000 within minutes),
  * card testing (3-5 payments under 2, then one over 500 in the same currency),
  * impossible travel (two location signals thousands of km apart within an hour),
  * unconfirmed large payments (over 5000, no confirmation within 15 minutes),
  * window boundary cases: a takeover whose payment comes exactly 10 minutes after the login (no match) and
    one 1 ms earlier (a match).
Arrival order is event time plus a random delay below --disorder milliseconds (within the patterns' 5 s
lateness, so no event is late), except for --late events held back by an hour (always late) and --malformed
lines that are not valid events. Event times are unique unless --ties is given, which rounds them to whole
seconds so that many events share a timestamp.
"""
import argparse
import json
import os
import random

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
COUNTRIES = {
    "DE": (52.52, 13.40), "FR": (48.86, 2.35), "ES": (40.42, -3.70), "IT": (41.90, 12.50),
    "GB": (51.51, -0.13), "US": (40.71, -74.01), "BR": (-23.55, -46.63), "JP": (35.68, 139.69),
    "IN": (19.08, 72.88), "AU": (-33.87, 151.21),
}
CURRENCIES = ["EUR", "USD", "GBP"]
TOPICS = ["logins", "geo", "payments", "confirmations"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000, help="approximate number of events")
    ap.add_argument("--users", type=int, default=1_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--rate", type=int, default=200, help="events per second of event time")
    ap.add_argument("--disorder", type=int, default=4_000, help="max arrival delay in ms (below lateness)")
    ap.add_argument("--late", type=float, default=0.0, help="fraction of events delivered an hour late")
    ap.add_argument("--malformed", type=float, default=0.0, help="fraction of extra malformed lines")
    ap.add_argument("--fraud", type=float, default=0.01, help="planted sequences per event")
    ap.add_argument("--ties", action="store_true", help="round event times to whole seconds")
    ap.add_argument("--profiles", type=int, default=0,
                    help="also write user-profiles.jsonl: a row per user, then this many updates during the stream")
    ap.add_argument("--out", default="out/fraud-input")
    args = ap.parse_args()

    rnd = random.Random(args.seed)
    users = [f"u{i:06d}" for i in range(args.users)]
    home = {u: rnd.choice(list(COUNTRIES)) for u in users}
    step = max(1, 1000 // args.rate)
    events = []  # (topic, ts, record)
    clock = [T0]
    counter = [0]

    def tick(gap=None):
        clock[0] += gap if gap is not None else rnd.randint(1, 2 * step)
        return clock[0]

    def ip():
        return ".".join(str(rnd.randint(1, 254)) for _ in range(4))

    def geo(u, country, ts):
        lat, lon = COUNTRIES[country]
        return ("geo", ts, {"user": u, "country": country, "lat": round(lat, 4),
                            "lon": round(lon, 4), "ts": ts})

    def payment(u, amount, ts, currency=None):
        counter[0] += 1
        return ("payments", ts, {"user": u, "id": f"p{counter[0]}", "amount": amount,
                                 "currency": currency or rnd.choice(CURRENCIES), "ts": ts})

    def elsewhere(u):
        return rnd.choice([c for c in COUNTRIES if c != home[u]])

    while len(events) < args.events:
        u = rnd.choice(users)
        r = rnd.random()
        if r < args.fraud:
            kind = rnd.randrange(5)
            t = tick()
            if kind == 0:  # account takeover
                events.append(("logins", t, {"user": u, "ip": ip(), "country": home[u], "ts": t}))
                events.append(geo(u, elsewhere(u), t + rnd.randint(10_000, 120_000)))
                events.append(payment(u, round(rnd.uniform(1_001, 4_000), 2), t + rnd.randint(150_000, 500_000)))
            elif kind == 1:  # card testing
                cur = rnd.choice(CURRENCIES)
                tt = t
                for _ in range(rnd.randint(3, 5)):
                    tt += rnd.randint(500, 5_000)
                    events.append(payment(u, round(rnd.uniform(0.1, 1.99), 2), tt, cur))
                events.append(payment(u, round(rnd.uniform(501, 3_000), 2), tt + rnd.randint(1_000, 30_000), cur))
            elif kind == 2:  # impossible travel
                a = rnd.choice(list(COUNTRIES))
                b = max(COUNTRIES, key=lambda c: abs(COUNTRIES[c][1] - COUNTRIES[a][1]))
                events.append(geo(u, a, t))
                events.append(geo(u, b, t + rnd.randint(60_000, 1_800_000)))
            elif kind == 3:  # unconfirmed large payment
                events.append(payment(u, round(rnd.uniform(5_001, 20_000), 2), t))
            else:  # window boundary: exactly 10 minutes (no match) or 1 ms less (match)
                gap = 600_000 - rnd.randint(0, 1)
                events.append(("logins", t, {"user": u, "ip": ip(), "country": home[u], "ts": t}))
                events.append(geo(u, elsewhere(u), t + 60_000))
                events.append(payment(u, 1_500.0, t + gap))
            continue
        t = tick()
        if r < 0.25:
            events.append(("logins", t, {"user": u, "ip": ip(), "country": home[u], "ts": t}))
        elif r < 0.55:
            events.append(geo(u, home[u] if rnd.random() < 0.998 else elsewhere(u), t))
        else:
            amount = round(min(rnd.lognormvariate(3.5, 1.2), 30_000), 2)
            p = payment(u, amount, t)
            events.append(p)
            if amount > 2_000 or rnd.random() < 0.1:
                c = t + rnd.randint(1_000, 600_000)
                events.append(("confirmations", c, {"user": u, "payment_id": p[2]["id"], "ts": c}))

    if args.ties:
        for _, ts, rec in events:
            rec["ts"] = ts - ts % 1000
    else:
        # Unique event times: planted sequences may collide with traffic; nudge duplicates forward.
        seen = set()
        for i, (topic, ts, rec) in enumerate(events):
            while rec["ts"] in seen:
                rec["ts"] += 1
            seen.add(rec["ts"])

    os.makedirs(args.out, exist_ok=True)
    counts = {}
    for topic in TOPICS:
        rows = []
        for tp, _, rec in events:
            if tp != topic:
                continue
            delay = rnd.randint(0, args.disorder)
            if args.late and rnd.random() < args.late:
                delay = 3_600_000
            rows.append((rec["ts"] + delay, len(rows), json.dumps(rec, separators=(",", ":"))))
        rows.sort()
        lines = [row[2] for row in rows]
        if args.malformed:
            bad = ['{"user": "u1", "ts": ', "not json", '{"user":"u1","amount":"12","ts":1}', '{"ts":1}', "[]"]
            for _ in range(int(len(lines) * args.malformed)):
                lines.insert(rnd.randrange(len(lines) + 1), rnd.choice(bad))
        with open(os.path.join(args.out, f"{topic}.jsonl"), "w") as f:
            f.write("\n".join(lines) + ("\n" if lines else ""))
        counts[topic] = len(lines)
    if args.profiles:
        # A generator of its own, so that the events are the same bytes with or without profiles.
        prnd = random.Random(args.seed + 1)
        first, last = min(rec["ts"] for _, _, rec in events), max(rec["ts"] for _, _, rec in events)
        rows = [(first - 1, {"user": u, "home": home[u], "limit": prnd.choice([500.0, 1000.0, 2000.0, None]),
                             "updated": first - 1}) for u in users]
        for _ in range(args.profiles):
            u = prnd.choice(users)
            ts = prnd.randint(first, last)
            rows.append((ts, {"user": u, "home": prnd.choice(list(COUNTRIES)),
                              "limit": prnd.choice([500.0, 1000.0, 2000.0, None]), "updated": ts}))
        rows.sort(key=lambda row: row[0])
        with open(os.path.join(args.out, "user-profiles.jsonl"), "w") as f:
            for _, rec in rows:
                if rec["limit"] is None:
                    del rec["limit"]
                f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        counts["user-profiles"] = len(rows)
    print(" ".join(f"{t}={n}" for t, n in counts.items()), "->", args.out)


if __name__ == "__main__":
    main()
