"""Structural check of examples/prometheus-consul-sd.yml, for scripts/test-ops.

Debian's promtool (2.42.0+ds) is built without Consul SD and rejects `consul_sd_configs`, so
this checks what it cannot: every key of each consul_sd_configs entry is one upstream
Prometheus knows (discovery/consul SDConfig and the HTTP client settings), `server` and a
non-empty `services` list are set, and the job follows the module-job pattern (job name
matching the alerts' job regex, /probe, a module, __address__ -> __param_target -> instance,
__address__ -> the exporter last). The rest of the job is then checked by the real promtool:
a copy with consul_sd_configs swapped for static_configs must pass `promtool check config`.

usage: check-consul-sd-example.py REPO WORK
"""
import os
import re
import subprocess
import sys

import yaml

repo, work = sys.argv[1], sys.argv[2]
path = os.path.join(repo, "examples", "prometheus-consul-sd.yml")
failures = []


def check(ok, what):
    print(f"  {'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


CONSUL_SD_KEYS = {
    "server", "token", "datacenter", "namespace", "partition", "tag_separator", "scheme", "username", "password",
    "allow_stale", "refresh_interval", "services", "tags", "node_meta", "filter",
    # HTTP client settings (prometheus/common config.HTTPClientConfig)
    "basic_auth", "authorization", "oauth2", "tls_config", "proxy_url", "no_proxy", "proxy_from_environment",
    "proxy_connect_header", "follow_redirects", "enable_http2",
}
RELABEL_KEYS = {"source_labels", "separator", "regex", "modulus", "target_label", "replacement", "action"}

config = yaml.safe_load(open(path, encoding="utf-8"))
check(set(config) == {"scrape_configs"}, "only scrape_configs at the top level (a job to merge)")
jobs = config.get("scrape_configs") or []
check(len(jobs) >= 1, f"{len(jobs)} job(s)")
rules_header = open(os.path.join(repo, "alerts", "infraprobe.rules.yml"), encoding="utf-8").read()
job_re = re.search(r'^#\s+infraprobe jobs:\s+job=~"(.+)"$', rules_header, re.M)
check(job_re is not None, "the rules name their infraprobe job regex in the header")

for job in jobs:
    name = job.get("job_name", "")
    check(job_re is not None and re.fullmatch(job_re.group(1).replace("\\\\", "\\"), name) is not None,
          f"{name}: job name matches the exporter-down/absent job regex")
    check(job.get("metrics_path") == "/probe", f"{name}: metrics_path /probe")
    modules = (job.get("params") or {}).get("module") or []
    check(len(modules) == 1 and isinstance(modules[0], str), f"{name}: one module ({modules})")
    sds = job.get("consul_sd_configs") or []
    check(len(sds) >= 1, f"{name}: consul_sd_configs")
    for sd in sds:
        unknown = set(sd) - CONSUL_SD_KEYS
        check(not unknown, f"{name}: consul_sd_configs keys known to Prometheus (unknown: {sorted(unknown)})")
        check(isinstance(sd.get("server"), str) and sd["server"].strip() != "", f"{name}: server set")
        services = sd.get("services")
        check(isinstance(services, list) and len(services) > 0 and all(isinstance(s, str) and s for s in services),
              f"{name}: chosen services listed ({services})")
    rules = job.get("relabel_configs") or []
    for rule in rules:
        check(not set(rule) - RELABEL_KEYS, f"{name}: relabel rule keys {sorted(rule)}")
    check(len(rules) >= 3, f"{name}: {len(rules)} relabel rules")
    if len(rules) >= 3:
        check(rules[0].get("source_labels") == ["__address__"] and rules[0].get("target_label") == "__param_target",
              f"{name}: consul_sd's __address__ (service address or node address, and port) becomes __param_target")
        check(any(r.get("source_labels") == ["__param_target"] and r.get("target_label") == "instance" for r in rules),
              f"{name}: instance is the target")
        last = rules[-1]
        check(last.get("target_label") == "__address__" and "source_labels" not in last
              and re.fullmatch(r"[^:\s]+:\d+", str(last.get("replacement", ""))) is not None,
              f"{name}: the last rule points __address__ at the exporter ({last.get('replacement')})")
        sources = {label for r in rules for label in r.get("source_labels", [])}
        meta = {label for label in sources if label.startswith("__meta_")}
        check(all(label.startswith("__meta_consul_") for label in meta), f"{name}: meta labels are consul_sd's ({sorted(meta)})")

# The remainder, checked by promtool: the same job with a static target instead of Consul.
for job in jobs:
    job.pop("consul_sd_configs", None)
    job["static_configs"] = [{"targets": ["127.0.0.1:6379"], "labels": {"__meta_consul_service": "redis-cache"}}]
static = os.path.join(work, "prometheus-consul-sd-static.yml")
with open(static, "w", encoding="utf-8") as f:
    yaml.safe_dump(config, f, sort_keys=False)
checked = subprocess.run(["promtool", "check", "config", static], capture_output=True, text=True, timeout=60)
check(checked.returncode == 0, "promtool check config accepts the job with consul_sd_configs swapped for static_configs"
      + ("" if checked.returncode == 0 else f": {(checked.stdout + checked.stderr).strip()}"))

print(f"{path}: {'ok' if not failures else f'{len(failures)} failed'}")
sys.exit(1 if failures else 0)
