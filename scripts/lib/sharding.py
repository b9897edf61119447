"""The Python half of scripts/test-sharding (stdlib + PyYAML, which scripts/install-deps installs).

  sharding.py splits PORT                        exit 0 when the discovered module targets on PORT
                                                 fall into both of 2 hashmod shards
  sharding.py register CONSUL_URL TOKEN PORT     registers the Redis instances in the Consul fake
  sharding.py bridge CONSUL_URL TOKEN OUT        the Consul fake's view as file_sd, labelled like consul_sd
  sharding.py render WORK FILE_SD PORT0 PORT1 NAME...
                                                 WORK/prometheus.yml from the shipped jobs + the docs recipe
  sharding.py check PROM PORT0 PORT1 RESULTS PORT NAME...
                                                 every target probed by exactly one shard, all passing
  sharding.py check-stopped PROM PORT0 PORT1 RESULTS PORT STOPPED_AT NAME...
                                                 after stopping exporter 1: only shard 1's targets fail
(PORT: the redis-server's; NAME: the named targets; RESULTS: a file each check appends pass/fail to.)
"""
import datetime
import hashlib
import json
import os
import re
import sys
import time
import urllib.parse
import urllib.request

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARDS = 2
NAMED_JOB, MODULE_JOB, EXPORTER_JOB = "infraprobe", "infraprobe-consul-redis", "infraprobe-exporter"

# Redis instances registered in the Consul fake: (service, id, service address, check). All on
# one redis-server listening on several loopback addresses. "" registers no service address,
# so consul_sd falls back to the node's (the fake's node is 127.0.0.1). redis-legacy is a
# service the example does not choose: it must not be probed.
INSTANCES = [
    ("redis-cache", "redis-cache-1", "", None),
    ("redis-cache", "redis-cache-2", "127.0.0.2", None),
    ("redis-cache", "redis-cache-3", "127.0.0.3", {"TTL": "30s"}),   # never passed: critical in Consul, still probed
    ("redis-sessions", "redis-sessions-1", "127.0.0.4", None),
    ("redis-sessions", "redis-sessions-2", "127.0.0.5", None),
    ("redis-legacy", "redis-legacy-1", "127.0.0.6", None),
]
NODE_ADDRESS = "127.0.0.1"


def hashmod(value, modulus):
    """Prometheus' relabel action hashmod: the low 64 bits of the value's MD5, big-endian, mod modulus."""
    return int.from_bytes(hashlib.md5(value.encode()).digest()[8:], "big") % modulus


def load(relpath):
    return yaml.safe_load(open(os.path.join(REPO, relpath), encoding="utf-8"))


def consul_example():
    jobs = load("examples/prometheus-consul-sd.yml")["scrape_configs"]
    assert len(jobs) == 1 and jobs[0]["job_name"] == MODULE_JOB, f"examples/prometheus-consul-sd.yml: expected one job {MODULE_JOB}"
    return jobs[0]


def chosen_services():
    return consul_example()["consul_sd_configs"][0]["services"]


def join_host_port(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def expected_module_targets(port):
    services = chosen_services()
    return sorted(join_host_port(address or NODE_ADDRESS, port) for service, _, address, _ in INSTANCES if service in services)


def consul(base, token, path, body=None):
    request = urllib.request.Request(f"{base}{path}", data=None if body is None else json.dumps(body).encode(),
                                     method="GET" if body is None else "PUT", headers={"X-Consul-Token": token})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read()
        return json.loads(text) if text else None


def register(base, token, port):
    for service, sid, address, check in INSTANCES:
        body = {"Name": service, "ID": sid, "Port": int(port), "Tags": ["redis", service.split("-", 1)[1]]}
        if address:
            body["Address"] = address
        if check:
            body["Check"] = check
        consul(base, token, "/v1/agent/service/register", body)


def aggregated_status(checks):
    """consul/api HealthChecks.AggregatedStatus: maintenance > critical > warning > passing."""
    seen = set()
    for check in checks:
        if check["CheckID"] == "_node_maintenance" or check["CheckID"].startswith("_service_maintenance:"):
            seen.add("maintenance")
            continue
        if check["Status"] not in ("passing", "warning", "critical"):
            return ""
        seen.add(check["Status"])
    return next((s for s in ("maintenance", "critical", "warning") if s in seen), "passing")


def sanitize(name):
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def bridge(base, token, out):
    """What consul_sd (discovery/consul) asks and builds, as a file_sd file: the datacenter from
    /v1/agent/self, then /v1/health/service/<name>?stale per chosen service, one target per
    service instance with the same __address__ and __meta_consul_* labels."""
    datacenter = consul(base, token, "/v1/agent/self")["Config"]["Datacenter"]
    groups = []
    for name in chosen_services():
        for entry in consul(base, token, f"/v1/health/service/{urllib.parse.quote(name)}?stale="):
            node, service = entry["Node"], entry["Service"]
            address = join_host_port(service["Address"] or node["Address"], service["Port"])
            labels = {
                "__meta_consul_service": name,
                "__meta_consul_dc": datacenter,
                "__meta_consul_address": node["Address"],
                "__meta_consul_node": node["Node"],
                "__meta_consul_tags": "," + ",".join(service["Tags"] or []) + ",",
                "__meta_consul_service_address": service["Address"],
                "__meta_consul_service_port": str(service["Port"]),
                "__meta_consul_service_id": service["ID"],
                "__meta_consul_health": aggregated_status(entry["Checks"]),
            }
            labels.update({f"__meta_consul_metadata_{sanitize(k)}": v for k, v in (node.get("Meta") or {}).items()})
            labels.update({f"__meta_consul_service_metadata_{sanitize(k)}": v for k, v in (service.get("Meta") or {}).items()})
            labels.update({f"__meta_consul_tagged_address_{sanitize(k)}": v for k, v in (node.get("TaggedAddresses") or {}).items()})
            groups.append({"targets": [address], "labels": labels})
    with open(out + ".tmp", "w", encoding="utf-8") as f:
        json.dump(groups, f, indent=1)
    os.replace(out + ".tmp", out)   # file_sd never sees a half-written file
    print(f"bridge: {len(groups)} instances of {', '.join(chosen_services())} from {base}")


def recipe_shard_rules(ports):
    """The hashmod and shard rules of docs/operating.md's sharding recipe, for len(ports) shards."""
    doc = open(os.path.join(REPO, "docs", "operating.md"), encoding="utf-8").read()
    section = doc.split("## 6. Scaling out", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block, "docs/operating.md §6: no yaml recipe"
    rules = yaml.safe_load(block.group(1))["scrape_configs"][0]["relabel_configs"]
    at = next(i for i, r in enumerate(rules) if r.get("action") == "hashmod")
    hashmod_rule, shard_rules = dict(rules[at]), rules[at + 1:]
    documented = hashmod_rule["modulus"]
    assert hashmod_rule["source_labels"] == ["__param_target"], "the recipe shards by __param_target"
    assert len(shard_rules) == documented, f"the recipe maps {len(shard_rules)} shards for modulus {documented}"
    for i, rule in enumerate(shard_rules):
        assert rule["source_labels"] == [hashmod_rule["target_label"]] and str(rule["regex"]) == str(i) \
            and rule["target_label"] == "__address__" and re.fullmatch(rf"infraprobe-{i}\.internal:\d+", rule["replacement"]), \
            f"recipe shard rule {i}: {rule}"
    # The rules before hashmod are the shipped jobs' own: target and instance.
    assert rules[:at] == consul_example()["relabel_configs"][:2], "the recipe's first rules differ from the shipped jobs'"
    hashmod_rule["modulus"] = len(ports)
    return [hashmod_rule] + [dict(shard_rules[i], replacement=f"127.0.0.1:{port}") for i, port in enumerate(ports)]


def sharded(job, ports):
    """A shipped job with its single-exporter rule (the last: __address__ -> the exporter)
    replaced by the recipe's shard rules."""
    rules = job["relabel_configs"]
    assert rules[-1]["target_label"] == "__address__" and "source_labels" not in rules[-1], f"{job['job_name']}: last rule {rules[-1]}"
    return dict(job, relabel_configs=rules[:-1] + recipe_shard_rules(ports))


def render(work, file_sd, ports, names):
    shipped = {j["job_name"]: j for j in load("examples/prometheus.yml")["scrape_configs"]}
    named = dict(shipped[NAMED_JOB], static_configs=[{"targets": names}])
    module = consul_example()
    module = {k: v for k, v in module.items() if k != "consul_sd_configs"}
    module["file_sd_configs"] = [{"files": [file_sd], "refresh_interval": "1s"}]   # the bridge's output, for consul_sd
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [sharded(named, ports), sharded(module, ports),
                           dict(shipped[EXPORTER_JOB], static_configs=[{"targets": [f"127.0.0.1:{p}" for p in ports]}])],
    }
    with open(os.path.join(work, "prometheus.yml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f, sort_keys=False)


# ------------------------------------------------------------------------------------ checks

def get(prom, path, **params):
    url = f"{prom}{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
    return json.load(urllib.request.urlopen(url, timeout=5))["data"]


def timestamp(text):
    """RFC 3339 with nanoseconds, as Prometheus' API writes times, to Unix seconds."""
    m = re.fullmatch(r"(.+T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text)
    assert m, f"not an RFC 3339 time: {text}"
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.datetime.fromisoformat(m.group(1) + (m.group(2) or ".0")[:7] + zone).timestamp()


def by_instance(prom, expr):
    return {r["metric"].get("instance"): float(r["value"][1]) for r in get(prom, "/api/v1/query", query=expr)["result"]}


class Results:
    def __init__(self, path):
        self.path = path

    def record(self, ok, what):
        print(f"  {'ok  ' if ok else 'FAIL'} {what}", flush=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(("pass" if ok else "fail") + "\n")


def until(bound_s, fn):
    """fn() -> (done, detail); retried until done or the bound passes; returns the last (done, detail)."""
    deadline = time.time() + bound_s
    while True:
        try:
            done, detail = fn()
        except (OSError, ValueError, KeyError) as e:
            done, detail = False, f"{type(e).__name__}: {e}"
        if done or time.time() >= deadline:
            return done, detail
        time.sleep(0.5)


def pools(prom, ports):
    """{job: {instance: [exporter shard index, ...]}} over Prometheus' active targets, and the targets."""
    shards = {f"127.0.0.1:{p}": i for i, p in enumerate(ports)}
    active = get(prom, "/api/v1/targets", state="active")["activeTargets"]
    seen = {}
    for t in active:
        if t["labels"]["job"] in (NAMED_JOB, MODULE_JOB):
            exporter = urllib.parse.urlsplit(t["scrapeUrl"]).netloc
            seen.setdefault(t["labels"]["job"], {}).setdefault(t["labels"]["instance"], []).append(shards.get(exporter, exporter))
    return seen, active


def check(prom, ports, results, names, port):
    r = Results(results)
    expected = {NAMED_JOB: sorted(names), MODULE_JOB: expected_module_targets(port)}

    def all_discovered():
        seen, _ = pools(prom, ports)
        return all(sorted(seen.get(j, {})) == expected[j] for j in expected), {j: sorted(seen.get(j, {})) for j in expected}
    ok, detail = until(15, all_discovered)
    r.record(ok, f"Prometheus has every target: {sum(map(len, expected.values()))} ({detail if not ok else 'named and from Consul'})")

    seen, active = pools(prom, ports)
    for job, instances in expected.items():
        once = {i: seen.get(job, {}).get(i) for i in instances}
        r.record(all(len(v or []) == 1 for v in once.values()), f"{job}: each target in exactly one shard's pool ({once})")
        wrong = {i: v for i, v in once.items() if v != [hashmod(i, SHARDS)]}
        r.record(not wrong, f"{job}: each target in the shard hashmod(__param_target) % {SHARDS} names" + (f" (wrong: {wrong})" if wrong else ""))
        per_shard = [sum(1 for v in once.values() if v == [s]) for s in range(SHARDS)]
        r.record(all(n > 0 for n in per_shard), f"{job}: both shards get targets ({per_shard})")
    legacy = [t for t in active if "redis-legacy" in json.dumps(t["discoveredLabels"])]
    r.record(not legacy, "a Consul service the job does not choose (redis-legacy) is not probed")
    module_targets = [t for t in active if t["labels"]["job"] == MODULE_JOB]
    labelled = all(t["labels"].get("consul_service") == t["discoveredLabels"]["__meta_consul_service"]
                   and t["discoveredLabels"]["__meta_consul_dc"] == "dc1" for t in module_targets)
    r.record(bool(module_targets) and labelled, "module targets carry consul_service from __meta_consul_service, dc1 from agent/self")
    critical = [t for t in module_targets if t["discoveredLabels"]["__meta_consul_health"] == "critical"]
    r.record(len(critical) == 1, f"the instance critical in Consul is probed too ({[t['labels']['instance'] for t in critical]})")
    fallback = [t for t in module_targets if t["discoveredLabels"].get("__meta_consul_service_address", "") == ""]
    r.record(len(fallback) == 1 and fallback[0]["labels"]["instance"] == f"{NODE_ADDRESS}:{port}",
             "an instance registered without an address is probed at the node's address")

    everything = [i for v in expected.values() for i in v]
    jobs = f'job=~"{NAMED_JOB}|{MODULE_JOB}"'

    def all_passing():
        success = by_instance(prom, f"probe_success{{{jobs}}}")
        series = by_instance(prom, f"count by (instance) (probe_success{{{jobs}}})")
        up = by_instance(prom, f"up{{{jobs}}}")
        bad = {i: (success.get(i), series.get(i), up.get(i)) for i in everything
               if (success.get(i), series.get(i), up.get(i)) != (1.0, 1.0, 1.0)}
        return not bad, bad
    ok, bad = until(15, all_passing)
    r.record(ok, f"every target: up 1, one probe_success series, probe_success 1 ({len(everything)} targets)" + (f"; not yet: {bad}" if bad else ""))
    exporters = by_instance(prom, f'up{{job="{EXPORTER_JOB}"}}')
    r.record(all(exporters.get(f"127.0.0.1:{p}") == 1.0 for p in ports), f"both exporters up ({exporters})")
    # The exporters' side: the probe history on each one's landing page holds its shard's targets only.
    for s, p in enumerate(ports):
        page = urllib.request.urlopen(f"http://127.0.0.1:{p}/", timeout=5).read().decode()
        probed = set(re.findall(r'<tr class="probe"><td><a href="/logs\?id=\d+">#\d+</a></td><td>[^<]*</td><td>([^<]*)</td>', page))
        mine = {i for i in everything if hashmod(i, SHARDS) == s}
        r.record(probed == mine, f"exporter {s} probed exactly its shard's {len(mine)} targets (history: {sorted(probed)})")


def check_stopped(prom, ports, results, names, port, stopped_at):
    """Exporter 1 was stopped at stopped_at: its shard's targets fail, shard 0's keep passing."""
    r = Results(results)
    everything = sorted(names) + expected_module_targets(port)
    shard = {i: hashmod(i, SHARDS) for i in everything}

    def scraped_since():
        _, active = pools(prom, ports)
        return {t["labels"]["instance"]: (timestamp(t["lastScrape"]), t["health"])
                for t in active if t["labels"]["job"] in (NAMED_JOB, MODULE_JOB)}

    def settled():
        last = scraped_since()
        # A scrape that started a whole interval after the stop: none in flight across it.
        stale = [i for i in everything if i not in last or last[i][0] < stopped_at + 1]
        wrong = {i: last[i][1] for i in everything if i not in stale and last[i][1] != ("up" if shard[i] == 0 else "down")}
        return not stale and not wrong, {"stale": stale, "wrong": wrong}
    ok, detail = until(15, settled)
    r.record(ok, f"after exporter 1 stopped: shard 1's targets down, shard 0's up, all scraped since ({detail if not ok else 'settled'})")

    window = int(time.time() - stopped_at) + 3   # from before the stop to now
    jobs = f'job=~"{NAMED_JOB}|{MODULE_JOB}"'
    up = by_instance(prom, f"up{{{jobs}}}")
    kept = by_instance(prom, f"min_over_time(probe_success{{{jobs}}}[{window}s])")
    zero = [i for i in everything if shard[i] == 0 and (up.get(i) != 1.0 or kept.get(i) != 1.0)]
    r.record(not zero, f"shard 0's {sum(1 for i in everything if shard[i] == 0)} targets kept passing through the stop (up 1, min probe_success over {window}s 1)"
             + (f"; not: {zero}" if zero else ""))
    down = [i for i in everything if shard[i] == 1 and up.get(i) != 0.0]
    r.record(not down, f"shard 1's {sum(1 for i in everything if shard[i] == 1)} targets up 0" + (f"; not: {down}" if down else ""))
    exporters = by_instance(prom, f'up{{job="{EXPORTER_JOB}"}}')
    r.record(exporters.get(f"127.0.0.1:{ports[0]}") == 1.0 and exporters.get(f"127.0.0.1:{ports[1]}") == 0.0,
             f"exporter job: exporter 0 up, exporter 1 down ({exporters})")


def main(argv):
    command, args = argv[0], argv[1:]
    if command == "splits":
        shards = {hashmod(t, SHARDS) for t in expected_module_targets(args[0])}
        return 0 if len(shards) == SHARDS else 1
    if command == "register":
        register(*args)
    elif command == "bridge":
        bridge(*args)
    elif command == "render":
        render(args[0], args[1], args[2:2 + SHARDS], args[2 + SHARDS:])
    elif command == "check":
        prom, ports, results, port, names = args[0], args[1:3], args[3], args[4], args[5:]
        check(prom, ports, results, names, port)
    elif command == "check-stopped":
        prom, ports, results, port, stopped_at, names = args[0], args[1:3], args[3], args[4], float(args[5]), args[6:]
        check_stopped(prom, ports, results, names, port, stopped_at)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
