"""Renders the shipped Prometheus config and alert rules for a test run on loopback.

usage: render-prometheus.py REPO WORK DIVISOR INFRAPROBE_PORT "TARGET ..." [ALERTMANAGER_PORT]

Writes WORK/prometheus.yml (1 s intervals, this run's ports, the given /probe targets; the
alerting block pointed at ALERTMANAGER_PORT, or removed without one) and WORK/infraprobe.rules.yml
(every `for:` and `keep_firing_for:` divided by DIVISOR, at least 1 s). Used by scripts/e2e.sh and scripts/resilience.sh.
"""
import re
import sys

repo, work, divisor, ip_port, targets = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5].split()
am_port = sys.argv[6] if len(sys.argv) > 6 else None


def sub(text, old, new):
    assert old in text, f"render: {old!r} not found"
    return text.replace(old, new)


p = open(f"{repo}/examples/prometheus.yml").read()
p = sub(p, "scrape_interval: 30s", "scrape_interval: 1s")
p = sub(p, "scrape_timeout: 15s", "scrape_timeout: 1s")
p = sub(p, "evaluation_interval: 30s", "evaluation_interval: 1s")
p = sub(p, "../alerts/infraprobe.rules.yml", f"{work}/infraprobe.rules.yml")
p = sub(p, "127.0.0.1:10025", f"127.0.0.1:{ip_port}")
p = sub(p, "          - redis-main\n", "".join(f"          - {t}\n" for t in targets))
if am_port:
    p = sub(p, "127.0.0.1:9093", f"127.0.0.1:{am_port}")
else:
    p, n = re.subn(r"^alerting:\n(?:  .*\n)+", "", p, flags=re.M)
    assert n == 1, "render: alerting block not found"
open(f"{work}/prometheus.yml", "w").write(p)

units = {"s": 1, "m": 60, "h": 3600}


def scale(m):
    secs = sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", m.group(2)))
    return f"{m.group(1)}{max(1, secs // divisor)}s"


r = open(f"{repo}/alerts/infraprobe.rules.yml").read()
r = re.sub(r"^(\s+(?:keep_firing_)?for: )(\S+)$", scale, r, flags=re.M)
open(f"{work}/infraprobe.rules.yml", "w").write(r)
