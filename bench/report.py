#!/usr/bin/env python3
"""Reads the saved wrk outputs of one bench/run.sh run and prints the
figures, each with its ratio to the hello-world ceiling. Stdlib only.

    report.py DIR

DIR holds hello.txt, whoami.txt, login.txt, register.txt (optional) and
meta.json (backend, settings, RSS figures in KiB).
"""
import json
import os
import re
import sys

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def latency_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def parse_wrk(path):
    """The figures wrk prints, plus the `mxbench:` line of our Lua scripts."""
    with open(path, encoding="utf-8", errors="replace") as f:
        out = f.read()
    r = {"raw": out}
    m = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    r["rps"] = float(m.group(1)) if m else None
    m = re.search(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m)", out, re.M)
    if m:
        r["requests"] = int(m.group(1))
        r["seconds"] = float(m.group(2)) * UNITS[m.group(3)] / 1000.0
    for pct in ("50", "75", "90", "99"):
        m = re.search(r"^\s+%s%%\s+(\S+)" % pct, out, re.M)
        r["p" + pct] = latency_ms(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    r["timeouts"] = int(m.group(4)) if m else 0
    m = re.search(r"^mxbench: (.*)$", out, re.M)
    if m:
        r["lua"] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}
    return r


def ms(v):
    if v is None:
        return "?"
    return "%.2f ms" % v if v < 10 else "%.0f ms" % v


def mib(kib):
    return "%.1f MiB" % (kib / 1024.0) if kib else "?"


def ratio(v, ceiling):
    if not v or not ceiling:
        return "?"
    return "%.4f" % (v / ceiling) if v / ceiling < 0.01 else "%.2f" % (v / ceiling)


def lua_only_limited(r):
    lua = r.get("lua", {})
    return bool(lua.get("limited")) and not lua.get("failed")


def problems(r, expect_non2xx=False):
    notes = []
    if r.get("socket_errors"):
        notes.append("%d socket errors (%d timeouts)" % (r["socket_errors"], r["timeouts"]))
    if r.get("non2xx") and not expect_non2xx and not lua_only_limited(r):
        notes.append("%d non-2xx responses" % r["non2xx"])
    lua = r.get("lua", {})
    if lua.get("failed"):
        notes.append("%d failed" % lua["failed"])
    if lua.get("limited"):
        notes.append("%d answered 429: the hashing queue was full" % lua["limited"])
    return (" [" + "; ".join(notes) + "]") if notes else ""


def main():
    d = sys.argv[1]
    meta = json.load(open(os.path.join(d, "meta.json")))
    hello = parse_wrk(os.path.join(d, "hello.txt"))
    ceiling = hello["rps"]
    lines = []
    lines.append("mxauth benchmark: %s backend, wrk -t%s -c%s -d%s per measurement (%s)"
                 % (meta["backend"], meta["threads"], meta["connections"],
                    meta["duration"], meta["mode"]))
    lines.append("hello-world (ceiling): %.0f req/s, p50 %s, p99 %s%s"
                 % (ceiling or 0, ms(hello["p50"]), ms(hello["p99"]), problems(hello)))

    w = parse_wrk(os.path.join(d, "whoami.txt"))
    lines.append("whoami: %.0f req/s (%s of hello-world), p50 %s, p99 %s%s"
                 % (w["rps"] or 0, ratio(w["rps"], ceiling), ms(w["p50"]), ms(w["p99"]), problems(w)))

    l = parse_wrk(os.path.join(d, "login.txt"))
    lua = l.get("lua", {})
    good = lua.get("ok", 0) / l["seconds"] if l.get("seconds") else l["rps"]
    lines.append("password login: %.1f req/s (%s of hello-world), p50 %s, p99 %s%s"
                 % (good or 0, ratio(good, ceiling), ms(l["p50"]), ms(l["p99"]), problems(l)))

    storm_path = os.path.join(d, "storm-whoami.txt")
    if os.path.exists(storm_path):
        sw = parse_wrk(storm_path)
        sl = parse_wrk(os.path.join(d, "storm-login.txt"))
        lua = sl.get("lua", {})
        logins = lua.get("ok", 0) / sl["seconds"] if sl.get("seconds") else None
        with open(os.path.join(d, "hash-rate.txt")) as f:
            hashes = float(f.read().split()[0])
        lines.append("login storm (%s clients): %.1f logins/s (%s of what the cores hash alone, "
                     "%.1f/s), p99 %s%s; meanwhile whoami (paced, %.0f req/s) p50 %s, p99 %s%s"
                     % (meta.get("storm_clients", "?"), logins or 0, ratio(logins, hashes), hashes,
                        ms(sl["p99"]), problems(sl), sw["rps"] or 0, ms(sw["p50"]), ms(sw["p99"]),
                        problems(sw)))

    reg_path = os.path.join(d, "register.txt")
    if os.path.exists(reg_path):
        g = parse_wrk(reg_path)
        lua = g.get("lua", {})
        secs = lua.get("duration_us", 0) / 1e6 or g.get("seconds")
        regs = lua.get("ok", 0) / secs if secs else None
        lines.append("registration: %.1f registrations/s (%s of hello-world; %.0f HTTP req/s, "
                     "2 per registration), per-request p50 %s, p99 %s%s"
                     % (regs or 0, ratio(regs, ceiling), g["rps"] or 0, ms(g["p50"]),
                        ms(g["p99"]), problems(g, expect_non2xx=True)))
    else:
        lines.append("registration: not measured (%s)" % meta.get("register_skipped", "skipped"))

    failed_path = os.path.join(d, "failed-logins.json")
    if os.path.exists(failed_path):
        f = json.load(open(failed_path))
        med, bodies = f["median_ms"], f["bodies"]
        same = "the same body" if len(set(bodies.values())) == 1 else "DIFFERENT bodies: %r" % bodies
        statuses = "; ".join("%s %s" % (k, v) for k, v in sorted(f["statuses"].items()))
        lines.append("failed logins (%s, %d interleaved rounds, statuses: %s): median unknown user %s, "
                     "wrong password %s (%s of unknown), deactivated account's wrong password %s "
                     "(%s of unknown)"
                     % (same, f["rounds"], statuses, ms(med["unknown"]), ms(med["wrong"]),
                        ratio(med["wrong"], med["unknown"]), ms(med["deactivated"]),
                        ratio(med["deactivated"], med["unknown"])))
    lines.append("mxauth RSS: idle %s (after start, before load); loaded peak %s (VmHWM), "
                 "%s after the load (VmRSS)"
                 % (mib(meta.get("rss_idle_kib")), mib(meta.get("rss_peak_kib")),
                    mib(meta.get("rss_after_kib"))))
    phases = "  peak (VmHWM) after whoami %s, after login %s, after the storm %s" % (
        mib(meta.get("rss_peak_whoami_kib")), mib(meta.get("rss_peak_login_kib")),
        mib(meta.get("rss_peak_storm_kib")))
    if os.path.exists(reg_path):
        phases += ", after registration %s" % mib(meta.get("rss_peak_kib"))
    lines.append(phases)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
