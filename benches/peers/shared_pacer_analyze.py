#!/usr/bin/env python3
"""Reads one run of benches/peers/shared_pacer_run.sh and prints, per sender, the figures
tests/replicas.rs gives for the sender lease.

shared_pacer_analyze.py OUT_DIR SENDERS GUARD_MS   (SENDERS: source:max_mps:contacts,...)
"""
import csv
import glob
import os
import sys


def max_in_window(times, width):
    """The most arrivals in any closed window of `width` ms (as tests/replicas.rs counts)."""
    best = start = 0
    for end in range(len(times)):
        while times[end] - times[start] > width:
            start += 1
        best = max(best, end - start + 1)
    return best


def main():
    out, senders, guard = sys.argv[1], sys.argv[2], float(sys.argv[3])
    arrivals = {}
    with open(os.path.join(out, "sends.csv")) as f:
        for r in csv.DictReader(f):
            arrivals.setdefault(r["source"], []).append((float(r["at_ms"]), r["destination"]))
    unknown = {}
    with open(os.path.join(out, "unknown.csv")) as f:
        for line in f:
            if line.strip():
                src, dest = line.strip().split(",")
                unknown.setdefault(src, set()).add(dest)
    departed = {}  # source -> {destination: departure ms}, merged over every process's file
    for path in glob.glob(os.path.join(out, "departures-*.csv")):
        with open(path) as f:
            for line in f:
                src, dest, at = line.strip().split(",")
                departed.setdefault(src, {})[dest] = float(at)
    killed = None
    if os.path.exists(os.path.join(out, "killed_at_ms")):
        killed = float(open(os.path.join(out, "killed_at_ms")).read())
    for k, spec in enumerate(senders.split(",")):
        source, mps, n_contacts = spec.split(":")
        mps, n_contacts = int(mps), int(n_contacts)
        spacing = (1000.0 + guard) / mps
        rows = sorted(arrivals.get(source, []))
        times = [t for t, _ in rows]
        dests = [d for _, d in rows]
        n = len(rows)
        span = (times[-1] - times[0]) / 1000.0 if n > 1 else 0.0
        gaps = [b - a for a, b in zip(times, times[1:])]
        longest = max(gaps) if gaps else 0.0
        at = gaps.index(longest) if gaps else 0
        where = ""
        if killed is not None and gaps:
            where = f", {(times[at] - killed) / 1000.0:+.2f} s from the kill"
        slow = sorted(gaps)[:-1]
        slow = [g for g in slow if g > 1.2 * spacing]
        short = sorted(gaps)
        audience = {f"55119{k * 100000 + i:08d}" for i in range(1, n_contacts + 1)}
        reached = set(dests)
        unk = unknown.get(source, set())
        missing = audience - reached
        print(f"sender {source} max_mps {mps} guard {guard:.0f} ms (spacing {spacing:.1f} ms): "
              f"{n} arrivals of {n_contacts} contacts")
        print(f"  max in any closed 1 s: {max_in_window(times, 1000.0)}; "
              f"in any 970 ms: {max_in_window(times, 970.0)}")
        print(f"  average {(n - 1) / span if span else 0:.2f}/s over {span:.1f} s "
              f"(steady rate {1000.0 / spacing:.2f}/s)")
        print(f"  longest pause {longest / 1000.0:.3f} s{where}; other gaps over 1.2 spacings: "
              f"{len(slow)}, {sum(g - spacing for g in slow) / 1000.0:.2f} s over the spacing")
        if short:
            print(f"  gaps between arrivals: min {short[0]:.1f} ms, 1st percentile "
                  f"{short[len(short) // 100]:.1f} ms, median {short[len(short) // 2]:.1f} ms")
        dep = departed.get(source, {})
        if dep:
            delays = sorted(t - dep[d] for t, d in rows if d in dep)
            print(f"  departures: {len(dep)}, max in any closed 1 s: "
                  f"{max_in_window(sorted(dep.values()), 1000.0)}; departure to arrival: median "
                  f"{delays[len(delays) // 2]:.1f} ms, p99 {delays[len(delays) * 99 // 100]:.1f} ms, "
                  f"max {delays[-1]:.1f} ms; over 25 ms: {sum(1 for x in delays if x > 25)}")
        print(f"  duplicates: {n - len(reached)}; never reached: {len(missing)} "
              f"(of them in-flight at the kill, `unknown`: {len(missing & unk)}); "
              f"in-flight but reached: {len(unk & reached)}")


main()
