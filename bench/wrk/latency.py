#!/usr/bin/env python3
"""Per-route request counts, req/s and p50/p99 (bucket upper bounds) from two scrapes of
recforge's /metrics: `latency.py BEFORE AFTER SECONDS`."""
import re, sys
def read(path):
    b = {}
    for line in open(path):
        m = re.match(r'recforge_http_request_duration_seconds_bucket\{route="([^"]+)",le="([^"]+)"\} (\S+)', line)
        if m:
            b.setdefault(m[1], {})[float("inf") if m[2] == "+Inf" else float(m[2])] = float(m[3])
    return b
before, after, seconds = read(sys.argv[1]), read(sys.argv[2]), float(sys.argv[3])
print("| route | requests | req/s | p50 ≤ ms | p99 ≤ ms |\n|---|---|---|---|---|")
for route, buckets in sorted(after.items()):
    diff = {le: n - before.get(route, {}).get(le, 0) for le, n in buckets.items()}
    total = diff[float("inf")]
    if total <= 0 or not route.startswith("/v1/"):
        continue
    q = lambda p: next(le for le in sorted(diff) if diff[le] >= p * total) * 1e3
    print(f"| {route} | {int(total)} | {total / seconds:,.0f} | {q(0.5):g} | {q(0.99):g} |")
