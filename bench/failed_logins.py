#!/usr/bin/env python3
"""Times failed logins, interleaved so that drift and warm-up hit every kind
alike: an unknown user, a wrong password, and a deactivated account's wrong
password, one request at a time (no queueing), round-robin. Writes the
median of each and the bodies to OUT (JSON). Stdlib only.

    failed_logins.py BASE_URL OUT ROUNDS KIND=USER [KIND=USER ...]
"""
import json
import statistics
import sys
import time
import urllib.error
import urllib.request


def login(base, user):
    body = json.dumps({
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": "wrong-password",
    }).encode()
    req = urllib.request.Request(base + "/_matrix/client/v3/login", data=body,
                                 headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            status, text = res.status, res.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    return (time.perf_counter() - start) * 1000.0, status, text


def main():
    base, out, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    kinds = [a.split("=", 1) for a in sys.argv[4:]]
    times = {k: [] for k, _ in kinds}
    bodies, statuses = {}, {k: {} for k, _ in kinds}
    for _ in range(3):  # warm-up, not counted
        for _, user in kinds:
            login(base, user)
    for _ in range(rounds):
        for kind, user in kinds:
            ms, status, text = login(base, user)
            times[kind].append(ms)
            statuses[kind][status] = statuses[kind].get(status, 0) + 1
            bodies[kind] = text
    json.dump({
        "rounds": rounds,
        "median_ms": {k: statistics.median(v) for k, v in times.items()},
        "statuses": statuses,
        "bodies": bodies,
    }, open(out, "w"))


if __name__ == "__main__":
    main()
