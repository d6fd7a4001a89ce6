#!/usr/bin/env python3
"""Side-by-side benchmark of acrctl and the real Azure CLI against the local emulator.

Run through benches/vs-az.sh, which builds acrctl, installs azure-cli into a venv it
owns, starts the emulator and exports its environment. Each comparison alternates the
two tools run by run (interleaved), on the same emulator and machine; wall time is
measured around the process, peak RSS comes from wait4's rusage of that one process.
Results: target/bench/vs-az.md and target/bench/vs-az.json.
"""

import json
import os
import statistics
import subprocess
import sys
import time

RUNS = int(os.environ.get("BENCH_RUNS", "10"))
OUT = os.environ["BENCH_OUT"]
ACRCTL = os.environ["ACRCTL_BIN"]
AZ = os.environ["AZ_BIN"]
INFO = json.load(open(os.environ["EMULATOR_INFO"]))
SERVERS = [r["login_server"] for r in INFO["registries"]]


def run(argv, check=True):
    """Wall seconds of one process."""
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()[-400:]
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {err}")
    return wall


def peak_rss(argv):
    """Peak RSS (MiB) of one process, from GNU time: Python's own wait4 would count the
    forked interpreter before exec."""
    out = f"{OUT}/rss.tmp"
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return int(open(out).read().split()[-1]) / 1024.0


def measure(name, steps_a, steps_b, label_a="az", label_b="acrctl", runs=RUNS):
    """Interleaved runs of two step lists (each a list of (argv, timed) pairs)."""
    samples = {label_a: [], label_b: []}
    rss = {label_a: 0.0, label_b: 0.0}
    errors = {}
    for i in range(runs + 1):  # the first round warms caches and is dropped
        for label, steps in ((label_a, steps_a), (label_b, steps_b)):
            if label in errors:
                continue
            total = 0.0
            try:
                for argv, timed in steps:
                    wall = run(argv)
                    if timed:
                        total += wall
                        if i < 3:
                            rss[label] = max(rss[label], peak_rss(argv))
            except RuntimeError as e:
                errors[label] = str(e)
                continue
            if i > 0:
                samples[label].append(total)
    row = {"benchmark": name}
    for label in (label_a, label_b):
        if label in errors:
            row[label] = {"error": errors[label]}
        else:
            row[label] = {"median_ms": statistics.median(samples[label]) * 1000, "peak_rss_mb": rss[label], "runs": len(samples[label])}
    if all("median_ms" in row[lbl] for lbl in (label_a, label_b)):
        row["ratio"] = row[label_a]["median_ms"] / row[label_b]["median_ms"]
    print(f"  {name}: done", file=sys.stderr)
    return row


def scale(name, make_steps, sizes=(1, 10, 50), runs=RUNS):
    row = {"benchmark": name, "sizes": {}}
    for n in sizes:
        times = []
        for i in range(runs + 1):
            total = 0.0
            for argv, timed in make_steps(n):
                wall = run(argv)
                if timed:
                    total += wall
            if i > 0:
                times.append(total)
        row["sizes"][str(n)] = statistics.median(times) * 1000
    print(f"  {name}: done", file=sys.stderr)
    return row


def main():
    rg = INFO["resource_group"]
    results = []
    results.append(measure("--version", [([AZ, "--version"], True)], [([ACRCTL, "--version"], True)]))
    # az resolves the registry name through ARM; acrctl is given the login server, as
    # DNS gives it for real registries (the emulator's suffix does not resolve).
    results.append(
        measure(
            "acr login --expose-token",
            [([AZ, "acr", "login", "-n", INFO["registries"][0]["name"], "--expose-token", "-o", "none"], True)],
            [([ACRCTL, "login", "-n", SERVERS[0], "--expose-token", "-o", "none", "--no-cache"], True)],
        )
    )
    results.append(
        measure(
            "acr login --expose-token (acrctl warm cache)",
            [([AZ, "acr", "login", "-n", INFO["registries"][0]["name"], "--expose-token", "-o", "none"], True)],
            [([ACRCTL, "login", "-n", SERVERS[0], "--expose-token", "-o", "none"], True)],
        )
    )
    # The Azure CLI as acrctl's credential source (`az account get-access-token`, a Python
    # process per Entra token) against acrctl's other sources, all with no token cache.
    az_dir = os.path.dirname(AZ)
    via_az = ["env", f"PATH={az_dir}:{os.environ['PATH']}", ACRCTL, "--auth", "azure-cli"]
    results.append(
        measure(
            "login --expose-token via the Azure CLI source vs the service principal",
            [(via_az + ["login", "-n", SERVERS[0], "--expose-token", "-o", "none", "--no-cache"], True)],
            [([ACRCTL, "login", "-n", SERVERS[0], "--expose-token", "-o", "none", "--no-cache"], True)],
            label_a="acrctl via az",
        )
    )
    az_attach = [
        ([AZ, "aks", "update", "-n", "aks-mi", "-g", rg, "--attach-acr", INFO["registries"][0]["name"], "-o", "none"], True),
        ([AZ, "aks", "update", "-n", "aks-mi", "-g", rg, "--detach-acr", INFO["registries"][0]["name"], "-o", "none"], True),
    ]
    acrctl_attach = [
        ([ACRCTL, "attach", "--cluster", "aks-mi", "-g", rg, "--acr", INFO["registries"][0]["name"], "-o", "none"], True),
        ([ACRCTL, "detach", "--cluster", "aks-mi", "-g", rg, "--acr", INFO["registries"][0]["name"], "-o", "none"], True),
    ]
    results.append(measure("aks update --attach-acr then --detach-acr", az_attach, acrctl_attach))

    def logins(n):
        argv = [ACRCTL, "login", "--expose-token", "-o", "none", "--no-cache"]
        for s in SERVERS[:n]:
            argv += ["-n", s]
        return [(argv, True)]

    def attaches(n):
        clusters = []
        for i in range(1, n + 1):
            clusters += ["--cluster", f"fleet-{i}"]
        reg = INFO["registries"][0]["name"]
        return [
            ([ACRCTL, "attach", *clusters, "-g", rg, "--acr", reg, "-o", "none"], True),
            ([ACRCTL, "detach", *clusters, "-g", rg, "--acr", reg, "-o", "none"], False),
        ]

    results.append(scale("acrctl login, N registries in one call", logins))
    results.append(scale("acrctl attach, one registry to N clusters", attaches))
    # The same with 20 ms added to every answer of the emulator, as a round trip to Azure
    # would: the work becomes network-bound and concurrency shows.
    admin = INFO["arm_url"].rstrip("/") + "/_emulator/faults"
    fault = json.dumps({"path_prefix": "/", "delay_ms": 20})
    subprocess.run(["curl", "-sf", "--cacert", INFO["ca_pem"], "-X", "POST", "-H", "content-type: application/json", "-d", fault, admin], check=True)
    results.append(scale("acrctl login, N registries, 20 ms latency", logins, runs=max(3, RUNS // 2)))
    results.append(scale("acrctl attach, N clusters, 20 ms latency", attaches, runs=max(3, RUNS // 2)))
    subprocess.run(["curl", "-sf", "--cacert", INFO["ca_pem"], "-X", "DELETE", admin], check=True)

    json.dump({"runs": RUNS, "cores": os.cpu_count(), "results": results}, open(f"{OUT}/vs-az.json", "w"), indent=2)
    lines = ["| benchmark | az (peer) median ms | az (peer) peak RSS MB | acrctl median ms | acrctl peak RSS MB | ratio |", "|---|---|---|---|---|---|"]
    for r in results:
        if "sizes" in r:
            continue
        cells = [r["benchmark"]]
        first = "az" if "az" in r else "acrctl via az"
        for label in (first, "acrctl"):
            v = r[label]
            if "error" in v:
                cells += [f"failed: {v['error'][:120]}", "-"]
            else:
                cells += [f"{v['median_ms']:.1f}", f"{v['peak_rss_mb']:.1f}"]
        cells.append(f"{r['ratio']:.0f}x" if "ratio" in r else "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| scale (acrctl) | N=1 ms | N=10 ms | N=50 ms | N=50 / N=1 |", "|---|---|---|---|---|"]
    for r in results:
        if "sizes" in r:
            s = r["sizes"]
            lines.append(f"| {r['benchmark']} | {s['1']:.1f} | {s['10']:.1f} | {s['50']:.1f} | {s['50'] / s['1']:.1f}x |")
    text = "\n".join(lines) + "\n"
    open(f"{OUT}/vs-az.md", "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
