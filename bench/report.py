"""docs/benchmarks.md from bench/run.py's results: every number comes from the
measurements. The section between the profile markers is hand-written and kept as
it is when the document is regenerated.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any

BEGIN = "<!-- profile:begin - written by hand; bench/run.py keeps everything up to profile:end -->"
END = "<!-- profile:end -->"

# key, label, unit
ROWS: list[tuple[str, str, str]] = [
    ("pulumi_up", "`pulumi up`, empty cluster until everything is Ready", "s"),
    ("kubectl_apply_wait", "`kubectl apply` + `kubectl wait`, empty cluster until everything is Ready", "s"),
    ("kubectl_apply", "  of which `kubectl apply`", "s"),
    ("kubectl_wait", "  of which `kubectl wait` / `kubectl rollout status`", "s"),
    ("pulumi_noop", "`pulumi up`, no changes", "s"),
    ("kubectl_reapply", "`kubectl apply`, no changes", "s"),
    ("pulumi_preview", "`pulumi preview`, no changes", "s"),
    ("kubectl_diff", "`kubectl diff`, no changes", "s"),
    ("pulumi_destroy", "`pulumi destroy`", "s"),
    ("kubectl_delete", "`kubectl delete` (waits until the objects are gone)", "s"),
    ("cleanup_destroy", "cleanup after `pulumi destroy` (the kept namespace and claims)", "s"),
    ("cleanup_delete", "cleanup after `kubectl delete` (nothing left: check only)", "s"),
    ("python_rss_up", "peak RSS of the Python program during `pulumi up`", "MB"),
    ("python_rss_noop", "peak RSS of the Python program during a no-op `pulumi up`", "MB"),
    ("tree_rss_up", "peak RSS of the whole `pulumi up` process tree (CLI, plugins, program)", "MB"),
    ("unit_suite", "unit suite, `.venv/bin/pytest tests/unit -q`", "s"),
    ("mock_first", "program under mocks, first build in a process (`harness.run_stack('local')`)", "s"),
    ("mock_build", "program under mocks, each later build in the same process", "s"),
    ("mock_process", "mock-build process, interpreter start to exit (imports + all builds)", "s"),
    ("import: import pulumi", "  `import pulumi` (fresh process)", "s"),
    ("import: import pulumi_kubernetes", "  `import pulumi_kubernetes` (its modules load lazily)", "s"),
    ("import: import components + harness", "  `import components.platform` + the test harness", "s"),
    ("floor_pulumi_version", "`pulumi version` (the CLI's own start)", "s"),
    ("floor_empty_preview", "`pulumi preview` of an empty program (CLI, language host, Python, `import pulumi`)", "s"),
    (
        "floor_empty_preview_sigint_ignored",
        "the same preview with SIGINT ignored (`bash -c 'trap \"\" INT; pulumi preview ...'`: a job started with `&`)",
        "s",
    ),
    ("floor_empty_up", "`pulumi up` of an empty program, no changes (as `make up` runs it)", "s"),
    ("floor_kubectl_get", "`kubectl get namespaces` (kubectl's own start and one request)", "s"),
    ("cluster_start", "`cluster/up.sh` cold start on a fresh name (`make cluster`)", "s"),
    ("cluster_down", "`cluster/down.sh`", "s"),
    ("render", "render the local manifests (`scripts/render.py --stack local`), once", "s"),
]

# description, numerator keys, denominator keys (summed per repetition), limit on the ratio
TARGETS: list[tuple[str, tuple[str, ...], tuple[str, ...], float]] = [
    (
        "`pulumi up` from empty within 1.3x `kubectl apply` + `kubectl wait`",
        ("pulumi_up",),
        ("kubectl_apply_wait",),
        1.3,
    ),
    ("no-op `pulumi up` within 1.2x a no-op `kubectl apply`", ("pulumi_noop",), ("kubectl_reapply",), 1.2),
    ("`pulumi preview` within 1.0x `kubectl diff`", ("pulumi_preview",), ("kubectl_diff",), 1.0),
    (
        "`pulumi destroy` + cleanup within 1.3x `kubectl delete` + cleanup",
        ("pulumi_destroy", "cleanup_destroy"),
        ("kubectl_delete", "cleanup_delete"),
        1.3,
    ),
]

# The scaling table: label, Pulumi keys, kubectl keys (summed per repetition).
SCALING: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("up from empty until Ready", ("pulumi_up",), ("kubectl_apply_wait",)),
    ("no-op up / apply", ("pulumi_noop",), ("kubectl_reapply",)),
    ("preview / diff", ("pulumi_preview",), ("kubectl_diff",)),
    ("destroy / delete, with cleanup", ("pulumi_destroy", "cleanup_destroy"), ("kubectl_delete", "cleanup_delete")),
]


def stats(values: list[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), max(values)


def fmt(value: float, unit: str) -> str:
    if unit == "MB":
        return f"{value:.0f} MB"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.1f} s"


def paired_sum(samples: dict[str, list[float]], *keys: str) -> list[float]:
    series = [samples.get(key, []) for key in keys]
    n = min(len(values) for values in series)
    return [sum(values[i] for values in series) for i in range(n)]


def ratio(samples: dict[str, list[float]], top: list[float], bottom: list[float]) -> tuple[float, float, float] | None:
    if not top or not bottom:
        return None
    n = min(len(top), len(bottom))
    per_rep = [top[i] / bottom[i] for i in range(n) if bottom[i] > 0]
    return statistics.median(top) / statistics.median(bottom), min(per_rep), max(per_rep)


def table(samples: dict[str, list[float]], rows: list[tuple[str, str, str]]) -> list[str]:
    lines = ["| measurement | min | median | max | n |", "|---|---:|---:|---:|---:|"]
    for key, label, unit in rows:
        values = samples.get(key)
        if not values:
            continue
        low, mid, high = stats(values)
        shown = label.replace("  of which", "&nbsp;&nbsp;of which").replace("  `", "&nbsp;&nbsp;`")
        lines.append(f"| {shown} | {fmt(low, unit)} | {fmt(mid, unit)} | {fmt(high, unit)} | {len(values)} |")
    return lines


def variant_rows(samples: dict[str, list[float]]) -> dict[str, list[tuple[str, str, str]]]:
    out: dict[str, list[tuple[str, str, str]]] = {}
    for key in samples:
        match = re.fullmatch(r"(.+) \[(.+)\]", key)
        if match:
            base, label = match.groups()
            base_label, unit = next(((lab, u) for k, lab, u in ROWS if k == base), (base, "s"))
            out.setdefault(label, []).append((key, f"{base_label} [{label}]", unit))
    return out


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not runs:
        return None
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return ordered[(len(ordered) - 1) // 2]


def kind_of(step: dict[str, Any]) -> str:
    return str(step["type"]).rsplit(":", 1)[-1]


def timeline(runs: list[dict[str, Any]]) -> list[str]:
    """What the engine spent an update on, from the stamped events."""
    base = [r for r in runs if not r.get("label")]
    run = median_run(base)
    if run is None or not run.get("steps"):
        return []
    steps = [s for s in run["steps"] if not str(s["type"]).startswith(("pulumi:pulumi:Stack", "platform:index:"))]
    update_start = run.get("update_start_s") or 0.0
    first = min(s["start"] for s in steps)
    last = max(s["end"] for s in steps)
    lines = [
        f"The median `pulumi up` from empty (repetition {run['rep']}, {run['seconds']:.1f} s, load {run['load']:.2f})"
        " as the engine's events show it (each event stamped when it was written):",
        "",
        "| phase | from | to | seconds |",
        "|---|---:|---:|---:|",
        f"| CLI start, plugin check, preview (program run 1) | 0.0 | {update_start:.1f} | {update_start:.1f} |",
        f"| update: program run 2 starts, first resource step | {update_start:.1f} | {first:.1f} | "
        f"{first - update_start:.1f} |",
        f"| update: resource steps | {first:.1f} | {last:.1f} | {last - first:.1f} |",
        f"| after the last step (outputs, state, exit) | {last:.1f} | {run['seconds']:.1f} | "
        f"{run['seconds'] - last:.1f} |",
        "",
    ]
    python_runs = run.get("rss", {}).get("python_runs", [])
    if python_runs:
        spans = ", ".join(f"{p['start_s']:.1f}-{p['end_s']:.1f} s ({p['peak_mb']:.0f} MB)" for p in python_runs)
        lines += [f"Python program processes seen (preview, then update): {spans}.", ""]
    processes = run.get("rss", {}).get("processes", [])
    if processes:
        lines += [
            "Processes of that run (seen by sampling /proc every 50 ms):",
            "",
            "| process | command | from | to | peak RSS |",
            "|---|---|---:|---:|---:|",
        ]
        for proc in processes:
            lines.append(
                f"| {proc['role']} | `{proc['command']}` | {proc['start_s']:.1f} | {proc.get('end_s', 0):.1f} | "
                f"{proc.get('peak_mb', 0):.0f} MB |"
            )
        lines.append("")
    slow = sorted(steps, key=lambda s: s["end"] - s["start"], reverse=True)[:12]
    lines += [
        "Slowest resource steps of that run (start and end relative to the command's start):",
        "",
        "| resource | kind | start | end | seconds |",
        "|---|---|---:|---:|---:|",
    ]
    for s in slow:
        lines.append(
            f"| {s['name']} | {kind_of(s)} | {s['start']:.1f} | {s['end']:.1f} | {s['end'] - s['start']:.1f} |"
        )
    # Per kind, over every baseline run.
    by_kind: dict[str, list[float]] = {}
    for r in base:
        for s in r.get("steps", []):
            if str(s["type"]).startswith(("pulumi:pulumi:Stack", "platform:index:")):
                continue
            by_kind.setdefault(kind_of(s), []).append(s["end"] - s["start"])
    lines += [
        "",
        "Step duration by kind, over all repetitions:",
        "",
        "| kind | steps | median | max |",
        "|---|---:|---:|---:|",
    ]
    for kind, values in sorted(by_kind.items(), key=lambda kv: -statistics.median(kv[1])):
        lines.append(f"| {kind} | {len(values)} | {statistics.median(values):.1f} s | {max(values):.1f} s |")
    roles: dict[str, list[float]] = {}
    for r in base:
        for role, mb in r.get("rss", {}).get("peak_by_role_mb", {}).items():
            roles.setdefault(role, []).append(mb)
    if roles:
        lines += [
            "",
            "Peak RSS during `pulumi up` by process (median over repetitions):",
            "",
            "| process | median peak | max peak |",
            "|---|---:|---:|",
        ]
        for role, values in sorted(roles.items(), key=lambda kv: -statistics.median(kv[1])):
            lines.append(f"| {role} | {statistics.median(values):.0f} MB | {max(values):.0f} MB |")
    return lines


def destroy_timeline(runs: list[dict[str, Any]]) -> list[str]:
    run = median_run([r for r in runs if not r.get("label")])
    if run is None or not run.get("steps"):
        return []
    steps = [s for s in run["steps"] if not str(s["type"]).startswith(("pulumi:", "platform:index:"))]
    slow = sorted(steps, key=lambda s: s["end"] - s["start"], reverse=True)[:6]
    start = run.get("update_start_s") or 0.0
    lines = [
        "## Where `pulumi destroy` spends its time",
        "",
        f"The median `pulumi destroy` (repetition {run['rep']}, {run['seconds']:.1f} s): its own preview and start"
        f" until {start:.1f} s, then {len(steps)} deletions. The slowest:",
        "",
        "| resource | kind | start | end | seconds |",
        "|---|---|---:|---:|---:|",
    ]
    for s in slow:
        lines.append(
            f"| {s['name']} | {kind_of(s)} | {s['start']:.1f} | {s['end']:.1f} | {s['end'] - s['start']:.1f} |"
        )
    return [*lines, ""]


def slope(points: list[tuple[int, float]]) -> float:
    """Least-squares growth per app, in seconds."""
    mean_x = statistics.mean(x for x, _ in points)
    mean_y = statistics.mean(y for _, y in points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


def scaling_points(data: dict[str, Any], keys: tuple[str, ...]) -> list[tuple[int, float]]:
    """(apps, median seconds) for the local stack and each scaled one."""
    samples: dict[str, list[float]] = data["samples"]
    meta = data["meta"]
    points = []
    sizes = [(meta.get("apps_local", 0), "")] + [(int(n), f"@{n}") for n in meta.get("scale", {})]
    for apps, suffix in sizes:
        values = paired_sum(samples, *(key + suffix for key in keys))
        if values:
            points.append((apps, statistics.median(values)))
    return points


def scaling(data: dict[str, Any]) -> list[str]:
    meta = data["meta"]
    if not meta.get("scale"):
        return []
    samples: dict[str, list[float]] = data["samples"]
    sizes = [(meta.get("apps_local", 0), "", meta.get("manifests_local", "?"))] + [
        (int(n), f"@{n}", info.get("manifests", "?")) for n, info in meta["scale"].items()
    ]
    reps = max((len(v) for k, v in samples.items() if k.startswith("pulumi_up@")), default=0)
    lines = [
        "## Scaling: 3, 30 and 100 apps",
        "",
        "The local stack, and the same stack with generated apps added (the same pinned echo",
        "image, a route on the gateway, a probe: a Deployment, Service, NetworkPolicy and",
        "Ingress path each), on the same control plane, interleaved with the runs above",
        f"(medians; the scaled stacks ran {reps} repetition{'' if reps == 1 else 's'}). Both tools get the manifests",
        "rendered from the same stack config.",
        "",
        "| apps | manifests | " + " | ".join(f"{label}: Pulumi / kubectl" for label, _, _ in SCALING) + " |",
        "|---:|---:|" + "---:|" * len(SCALING),
    ]
    for apps, suffix, manifests in sizes:
        cells = []
        for _, pulumi_keys, kubectl_keys in SCALING:
            top = paired_sum(samples, *(k + suffix for k in pulumi_keys))
            bottom = paired_sum(samples, *(k + suffix for k in kubectl_keys))
            if top and bottom:
                cells.append(
                    f"{statistics.median(top):.1f} s / {statistics.median(bottom):.1f} s "
                    f"({statistics.median(top) / statistics.median(bottom):.2f}x)"
                )
            else:
                cells.append("n/a")
        lines.append(f"| {apps} | {manifests} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Growth per app (least-squares slope over the three sizes):",
        "",
        "| operation | Pulumi | kubectl | Pulumi / kubectl |",
        "|---|---:|---:|---:|",
    ]
    for label, pulumi_keys, kubectl_keys in SCALING:
        ours, theirs = scaling_points(data, pulumi_keys), scaling_points(data, kubectl_keys)
        if len(ours) < 2 or len(theirs) < 2:
            continue
        a, b = slope(ours), slope(theirs)
        shown = f"{a / b:.2f}x" if b > 0 else "n/a"
        lines.append(f"| {label} | {a * 1000:.0f} ms/app | {b * 1000:.0f} ms/app | {shown} |")
    return [*lines, ""]


def existing_profile(path: Path) -> str | None:
    if not path.exists():
        return None
    text = path.read_text()
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return None
    return text[start + len(BEGIN) : end].strip("\n")


def write(data: dict[str, Any], out: Path, chart: str) -> None:
    meta = data["meta"]
    samples: dict[str, list[float]] = data["samples"]
    mach = meta.get("machine", {})
    load = data.get("load") or [0.0]
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by bench/run.py from its measurements: edit the script, not the numbers. -->",
        "",
        "The Pulumi program against the same manifests applied with plain `kubectl`, on the",
        "local control plane (kwok: a real kube-apiserver, etcd, controller manager and",
        "scheduler with fake nodes, so no container runs). Every Pulumi and kubectl",
        "measurement ran interleaved in one run: per repetition `pulumi up` from an empty",
        "cluster, a no-op `pulumi up`, `pulumi preview`, `pulumi destroy`, cleanup, then",
        "`kubectl apply` + `kubectl wait`, a no-op `kubectl apply`, `kubectl diff`, `kubectl",
        "delete`, cleanup, then a cold `cluster/up.sh`, the unit suite and builds under mocks.",
        "",
        "Reproduce with:",
        "",
        "```sh",
        f"make bench                 # {meta.get('reps', 5)} repetitions took {meta.get('duration_min', '?')} min here;"
        " BENCH_REPS=1 for a quick run",
        "```",
        "",
        f"- date: {meta.get('date', '?')}, {meta.get('reps', '?')} repetitions, "
        f"{meta.get('duration_min', '?')} min in all; command: `{meta.get('command', 'make bench')}`"
        + (f" at `{meta['git']}`" if meta.get("git") else ""),
        f"- machine: {mach.get('nproc', '?')} CPUs ({mach.get('cpu', '?')}), {mach.get('memory_gib', '?')} GiB memory, "
        f"{mach.get('os', '?')}, Python {mach.get('python', '?')}",
        f"- load: 1-minute load average {min(load):.2f} to {max(load):.2f} (median {statistics.median(load):.2f}) "
        "while measuring (2 cores; the machine is shared with other engineers' test runs).",
        f"  `uptime` at the start: `{meta.get('uptime_start', '?')}`; at the end: `{meta.get('uptime_end', '?')}`",
    ]
    versions = meta.get("versions") or {}
    if versions:
        lines.append("- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
    lines += [
        "- what is compared: `pulumi up --yes --skip-preview` as `make up` runs it for the local",
        "  stack (`make preview` shows the preview, with the policy pack),",
        "  against `kubectl apply` of every manifest that `make render` writes",
        "  (build/render/local/1-manifest, namespaces first in the same command) and then",
        "  `kubectl wait` for Deployments Available, `kubectl rollout status` for each",
        "  StatefulSet, claims Bound and Ingresses with an address. After each `pulumi up` the",
        "  same checks were run once without waiting, and passed: Pulumi returns when all of it",
        "  is Ready. `pulumi destroy` leaves the `staging-infra` namespace and the data claims",
        "  (on purpose); the cleanup row is deleting them. `kubectl delete` removes everything",
        "  in the manifests including that namespace.",
        "",
        "## Results",
        "",
        *table(samples, ROWS),
        "",
    ]
    for label, rows in variant_rows(samples).items():
        lines += [f"Variant `{label}` (its code and environment: see the command above; same repetitions):", ""]
        lines += [*table(samples, rows), ""]

    def r(top: list[float], bottom: list[float]) -> str:
        value = ratio(samples, top, bottom)
        if value is None:
            return "n/a"
        return f"{value[0]:.2f}x (per repetition {value[1]:.2f}x to {value[2]:.2f}x)"

    s = samples
    up_ratio = r(s.get("pulumi_up", []), s.get("kubectl_apply_wait", []))
    destroy_total = paired_sum(s, "pulumi_destroy", "cleanup_destroy")
    delete_total = paired_sum(s, "kubectl_delete", "cleanup_delete")
    lines += [
        "## Ratios",
        "",
        "Median over median; in brackets the range of the same ratio within each repetition.",
        "",
        "| ratio | value |",
        "|---|---|",
        f"| `pulumi up` / `kubectl apply` + `kubectl wait` | {up_ratio} |",
        f"| `pulumi destroy` / `kubectl delete` | {r(s.get('pulumi_destroy', []), s.get('kubectl_delete', []))} |",
        f"| `pulumi destroy` + cleanup / `kubectl delete` + cleanup | {r(destroy_total, delete_total)} |",
        f"| no-op `pulumi up` / no-op `kubectl apply` | {r(s.get('pulumi_noop', []), s.get('kubectl_reapply', []))} |",
        f"| `pulumi preview` / `kubectl diff` | {r(s.get('pulumi_preview', []), s.get('kubectl_diff', []))} |",
        "",
        "## Targets",
        "",
        "| target | median | max | met (median) |",
        "|---|---:|---:|---|",
    ]
    for description, top_keys, bottom_keys, limit in TARGETS:
        value = ratio(s, paired_sum(s, *top_keys), paired_sum(s, *bottom_keys))
        if value is None:
            continue
        mid, high = value[0], value[2]
        verdict = (
            "yes" if high <= limit else ("yes at the median, not in every repetition" if mid <= limit else "**no**")
        )
        lines.append(f"| {description} | {mid:.2f}x | {high:.2f}x | {verdict} |")
    lines += ["", "Max: the worst repetition's own ratio.", ""]
    labels = list(variant_rows(samples))
    if labels:
        lines += [
            "The same targets for each variant (its Pulumi figures against the same repetitions' kubectl):",
            "",
            "| target | " + " | ".join(f"`{label}`" for label in labels) + " |",
            "|---|" + "---:|" * len(labels),
        ]
        for description, top_keys, bottom_keys, limit in TARGETS:
            cells = []
            for label in labels:
                value = ratio(s, paired_sum(s, *[f"{key} [{label}]" for key in top_keys]), paired_sum(s, *bottom_keys))
                cells.append("n/a" if value is None else f"{value[0]:.2f}x{'' if value[0] <= limit else ' (no)'}")
            lines.append(f"| {description} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += scaling(data)
    lines += ["", f"![benchmarks]({chart})", ""]
    if data.get("notes"):
        lines += ["Notes from the run:", "", *[f"- {note}" for note in data["notes"]], ""]
    lines += ["## Where `pulumi up` spends its time", "", *timeline(data.get("up_runs", [])), ""]
    lines += destroy_timeline(data.get("destroy_runs", []))
    profile = existing_profile(out)
    lines += [
        "## Profile",
        "",
        BEGIN,
        profile if profile is not None else "(not written yet)",
        END,
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
