#!/usr/bin/env python3
"""Reads the runs of benches/peers/run.sh and prints one Markdown table.

analyze.py OUT_DIR CAP RATE PROFILE TOOL...
"""
import csv
import os
import re
import sys


def sends(path):
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            rows.append((float(r["at_ms"]), r["source"], r["destination"]))
    rows.sort()
    return rows


def max_in_window(times_ms, window_ms=1000.0):
    best = start = 0
    for end in range(len(times_ms)):
        while times_ms[start] + window_ms <= times_ms[end]:
            start += 1
        best = max(best, end - start + 1)
    return best


def over_cap(rows, cap):
    """Sends that reached a new customer once `cap` customers had been reached (all runs are far
    shorter than 24 h, so the rolling day is the whole run)."""
    seen, over = set(), 0
    for _, _, dest in rows:
        if dest in seen:
            continue
        seen.add(dest)
        if len(seen) > cap:
            over += 1
    return over


def time_v(path):
    text = open(path).read()
    num = lambda key: float(re.search(re.escape(key) + r":\s*([0-9.]+)", text).group(1))
    return num("User time (seconds)") + num("System time (seconds)"), num("Maximum resident set size (kbytes)")


def main():
    out, cap, rate, profile, tools = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5:]
    label = {
        "tierpace": f"tierpace ({profile} build, Redis state)",
        "bullmq": "BullMQ worker (`limiter`)" if rate else "BullMQ worker (no limiter)",
        "bottleneck": "Bottleneck (`reservoir` + `minTime`)",
    }
    print(f"| tool | sends (clean run) | achieved rate | max sends in any 1 s (asked {rate or 'no cap'}) "
          f"| sends over the {cap} cap | duplicates after kill -9 | CPU s per 10,000 sends "
          f"| peak RSS | Redis CPU s per 10,000 sends |")
    print("|---|---|---|---|---|---|---|---|---|")
    for tool in tools:
        clean = os.path.join(out, f"{tool}-clean")
        kill = os.path.join(out, f"{tool}-kill")
        rows = sends(os.path.join(clean, "sends.csv"))
        times = [r[0] for r in rows]
        n = len(rows)
        span = (times[-1] - times[0]) / 1000.0 if n > 1 else 0.0
        achieved = (n - 1) / span if span > 0 else 0.0
        cpu, rss = time_v(os.path.join(clean, "time.1.txt"))
        redis_cpu = float(open(os.path.join(clean, "redis_cpu")).read() or 0)
        if os.path.exists(os.path.join(kill, "sends.csv")):
            krows = sends(os.path.join(kill, "sends.csv"))
            kdest = [r[2] for r in krows]
            dups = f"{len(kdest) - len(set(kdest))} of {len(kdest)} sends"
            kover = over_cap(krows, cap)
        else:  # MODES=clean
            dups, kover = "not run", "not run"
        killed_at = ""
        per10k = lambda x: f"{x * 10000 / n:.1f}" if n else "n/a"
        redis_col = per10k(redis_cpu) if tool != "bottleneck" else "(no Redis)"
        print(f"| {label.get(tool, tool)} | {n} | {achieved:.1f}/s over {span:.1f} s | {max_in_window(times)} "
              f"| {over_cap(rows, cap)} (kill run: {kover}) | {dups} "
              f"| {per10k(cpu)} ({cpu:.2f} s for {n}) | {rss / 1024:.1f} MB | {redis_col} |")


main()
