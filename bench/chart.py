"""The benchmark chart (docs/benchmarks.png) from bench/run.py's results.

    .venv-bench/bin/python bench/chart.py build/bench/results.json docs/benchmarks.png

Top left: median with min-max range per measurement, Pulumi next to kubectl. Top
right: the median `pulumi up` from empty as a timeline of its resource steps.
Bottom: how each operation grows with the number of apps, Pulumi against kubectl.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Patch

PULUMI = "#6d4fc2"
KUBECTL = "#e08a1e"
VARIANT = "#2e9e5b"
OTHER = "#8a8a8a"

BARS: list[tuple[str, str]] = [
    ("pulumi_up", "pulumi up (empty → Ready)"),
    ("kubectl_apply_wait", "kubectl apply + wait"),
    ("pulumi_noop", "pulumi up, no changes"),
    ("kubectl_reapply", "kubectl apply, no changes"),
    ("pulumi_preview", "pulumi preview"),
    ("kubectl_diff", "kubectl diff"),
    ("pulumi_destroy", "pulumi destroy"),
    ("kubectl_delete", "kubectl delete"),
    ("cleanup_destroy", "cleanup after destroy"),
    ("unit_suite", "unit suite (pytest tests/unit)"),
    ("mock_first", "mock build, first in process"),
    ("mock_build", "mock build, later"),
    ("cluster_start", "cluster/up.sh, cold"),
    ("floor_empty_preview", "pulumi preview, empty program"),
    ("floor_empty_up", "pulumi up, empty program"),
    ("floor_kubectl_get", "kubectl get namespaces"),
]

# label, Pulumi keys, kubectl keys (summed per repetition), as in bench/report.py's SCALING
SCALING: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("up from empty", ("pulumi_up",), ("kubectl_apply_wait",)),
    ("no-op", ("pulumi_noop",), ("kubectl_reapply",)),
    ("preview / diff", ("pulumi_preview",), ("kubectl_diff",)),
    ("destroy / delete + cleanup", ("pulumi_destroy", "cleanup_destroy"), ("kubectl_delete", "cleanup_delete")),
]

KIND_COLORS = {
    "Namespace": "#4c72b0",
    "NetworkPolicy": "#9ab3d9",
    "ResourceQuota": "#9ab3d9",
    "RandomPassword": "#b0b0b0",
    "Secret": "#c6a15b",
    "ConfigMap": "#d9c38c",
    "Service": "#c44e52",
    "Deployment": "#55a868",
    "StatefulSet": "#2b7a3d",
    "PersistentVolumeClaim": "#8172b2",
    "Ingress": "#dd8452",
    "IngressClass": "#f0b27a",
}


def color_of(key: str) -> str:
    if "[" in key:
        return VARIANT
    if key.startswith("pulumi_") or key == "cleanup_destroy":
        return PULUMI
    if key.startswith("kubectl_"):
        return KUBECTL
    return OTHER


def bar_panel(ax: Any, samples: dict[str, list[float]]) -> None:
    rows: list[tuple[str, str]] = []
    for key, label in BARS:
        if samples.get(key):
            rows.append((key, label))
        for other in samples:
            match = re.fullmatch(re.escape(key) + r" \[(.+)\]", other)
            if match:
                rows.append((other, f"{label} [{match.group(1)}]"))
    rows.reverse()
    for y, (key, _) in enumerate(rows):
        values = samples[key]
        mid = statistics.median(values)
        ax.barh(y, mid, color=color_of(key), height=0.7)
        ax.errorbar(
            mid,
            y,
            xerr=[[mid - min(values)], [max(values) - mid]],
            fmt="none",
            ecolor="black",
            capsize=3,
            lw=1,
        )
        ax.text(max(values) + 0.4, y, f"{mid:.1f} s", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [label for _, label in rows], fontsize=8)
    ax.set_xlabel("seconds (bar: median, whiskers: min-max)")
    ax.set_title("Pulumi against kubectl, same manifests, same cluster", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(
        handles=[
            Patch(color=PULUMI, label="pulumi"),
            Patch(color=KUBECTL, label="kubectl"),
            Patch(color=OTHER, label="other"),
        ]
        + ([Patch(color=VARIANT, label="variant")] if any("[" in k for k, _ in rows) else []),
        loc="lower right",
        fontsize=8,
    )


def timeline_panel(ax: Any, runs: list[dict[str, Any]]) -> None:
    base = sorted((r for r in runs if not r.get("label") and r.get("steps")), key=lambda r: r["seconds"])
    if not base:
        ax.set_axis_off()
        return
    run = base[(len(base) - 1) // 2]
    steps = [
        s
        for s in run["steps"]
        if not str(s["type"]).startswith(("pulumi:pulumi:Stack", "platform:index:", "pulumi:providers"))
    ]
    steps.sort(key=lambda s: (s["start"], s["end"]))
    for y, step in enumerate(steps):
        kind = str(step["type"]).rsplit(":", 1)[-1]
        width = max(step["end"] - step["start"], 0.05)
        ax.barh(y, width, left=step["start"], color=KIND_COLORS.get(kind, OTHER), height=0.8)
    update = run.get("update_start_s")
    if update:
        ax.axvline(update, color="black", lw=0.8, ls="--")
        ax.text(update, -1.5, " update starts", fontsize=7, va="top")
    ax.axvline(run["seconds"], color="black", lw=0.8)
    ax.text(run["seconds"], -1.5, " exit", fontsize=7, va="top")
    ax.set_ylim(len(steps), -3)
    ax.set_yticks([])
    ax.set_xlim(0, run["seconds"] * 1.05)
    ax.set_xlabel("seconds since `pulumi up` started")
    ax.set_ylabel(f"{len(steps)} resource steps, by start")
    ax.set_title(f"median pulumi up from empty (rep {run['rep']}): one bar per resource step", fontsize=10)
    kinds = sorted({str(s["type"]).rsplit(":", 1)[-1] for s in steps})
    ax.legend(
        handles=[Patch(color=KIND_COLORS.get(k, OTHER), label=k) for k in kinds],
        loc="upper right",
        fontsize=7,
        ncol=2,
    )
    ax.grid(axis="x", alpha=0.3)


def paired_median(samples: dict[str, list[float]], keys: list[str]) -> float | None:
    series = [samples.get(key, []) for key in keys]
    n = min(len(values) for values in series)
    return statistics.median([sum(values[i] for values in series) for i in range(n)]) if n else None


def scaling_panel(axes: list[Any], data: dict[str, Any]) -> None:
    meta = data.get("meta", {})
    sizes = [(int(meta.get("apps_local", 0)), "")] + [(int(n), f"@{n}") for n in meta.get("scale", {})]
    for ax, (label, pulumi_keys, kubectl_keys) in zip(axes, SCALING, strict=True):
        for keys, color, name in ((pulumi_keys, PULUMI, "pulumi"), (kubectl_keys, KUBECTL, "kubectl")):
            points = [
                (apps, value)
                for apps, suffix in sizes
                if (value := paired_median(data["samples"], [key + suffix for key in keys])) is not None
            ]
            if points:
                ax.plot([x for x, _ in points], [y for _, y in points], "o-", color=color, label=name)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("apps in the stack")
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    axes[0].set_ylabel("seconds (median)")
    axes[0].legend(fontsize=8, loc="upper left")


def main() -> None:
    results, out = Path(sys.argv[1]), Path(sys.argv[2])
    data = json.loads(results.read_text())
    figure = plt.figure(figsize=(15, 12))
    grid = figure.add_gridspec(2, 4, height_ratios=[1.6, 1])
    left = figure.add_subplot(grid[0, :2])
    right = figure.add_subplot(grid[0, 2:])
    bar_panel(left, data["samples"])
    timeline_panel(right, data.get("up_runs", []))
    if data.get("meta", {}).get("scale"):
        scaling_panel([figure.add_subplot(grid[1, i]) for i in range(4)], data)
    meta = data.get("meta", {})
    mach = meta.get("machine", {})
    figure.suptitle(
        f"platform benchmarks, {meta.get('date', '')}: {meta.get('reps', '?')} repetitions, "
        f"{mach.get('nproc', '?')} CPUs, local control plane (kwok)",
        fontsize=11,
    )
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
