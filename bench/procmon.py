"""Watching a running `pulumi` command from the outside.

- `TreeMonitor` samples /proc every few tens of milliseconds and keeps the peak
  resident memory (RSS) of the command's process tree, by role: the CLI, the
  Python language host, the Python program (the process the host starts through
  `pulumi-language-python-exec`, with its own children), and each provider plugin.
- `EventTail` reads the file written by `pulumi ... --event-log` while it grows and
  stamps every engine event with the time it was read: the log's own timestamps
  have a resolution of one second.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


def _stat(pid: str) -> tuple[int, int] | None:
    """(ppid, rss bytes) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    return int(fields[1]), int(fields[21]) * PAGE


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [part.decode(errors="replace") for part in handle.read().split(b"\0") if part]
    except OSError:
        return []


def role(argv: list[str]) -> str:
    """What a process in a pulumi command's tree is, from its command line."""
    if any(Path(arg).name == "pulumi-language-python-exec" for arg in argv[:3]):
        return "python program"
    name = Path(argv[0]).name if argv else ""
    if name == "pulumi":
        return "pulumi CLI"
    if name.startswith("pulumi-language-"):
        return "language host"
    if name.startswith("pulumi-resource-"):
        return name.removeprefix("pulumi-resource-") + " provider"
    if name.startswith("pulumi-analyzer-"):
        return "policy analyzer"
    return "other"


@dataclass
class TreeReport:
    peak_total: int = 0
    peak_by_role: dict[str, int] = field(default_factory=dict)
    python_runs: list[tuple[float, float, int]] = field(default_factory=list)  # (first seen, last seen, peak rss)
    samples: int = 0
    others: set[str] = field(default_factory=set)
    processes: list[dict[str, Any]] = field(default_factory=list)  # every process seen, with its lifetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "peak_total_mb": round(self.peak_total / MB, 1),
            "peak_by_role_mb": {key: round(value / MB, 1) for key, value in sorted(self.peak_by_role.items())},
            "python_runs": [
                {"start_s": round(a, 3), "end_s": round(b, 3), "peak_mb": round(rss / MB, 1)}
                for a, b, rss in self.python_runs
            ],
            "samples": self.samples,
            "others": sorted(self.others),
            "processes": self.processes,
        }


class TreeMonitor(threading.Thread):
    """Samples the process tree under `root` until `stop()`; times are relative to `t0`."""

    def __init__(self, root: int, t0: float, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.t0 = t0
        self.interval = interval
        self.report = TreeReport()
        self._halt = threading.Event()
        self._roles: dict[int, str] = {}
        self._python: dict[int, list[float]] = {}  # pid -> [first, last, peak]
        self._seen: dict[int, dict[str, Any]] = {}

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)
        self.sample()
        self.report.python_runs = sorted((a, b, int(rss)) for a, b, rss in self._python.values())
        self.report.processes = sorted(self._seen.values(), key=lambda p: p["start_s"])

    def stop(self) -> TreeReport:
        self._halt.set()
        self.join()
        return self.report

    def sample(self) -> None:
        now = time.perf_counter() - self.t0
        table: dict[int, tuple[int, int]] = {}
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            stat = _stat(entry.name)
            if stat is None:
                continue
            pid = int(entry.name)
            table[pid] = stat
            children.setdefault(stat[0], []).append(pid)
        if self.root not in table:
            return
        by_role: dict[str, int] = {}
        python_tree: dict[int, int] = {}  # python program pid -> rss of its subtree
        stack: list[tuple[int, int | None]] = [(self.root, None)]
        while stack:
            pid, python_owner = stack.pop()
            if pid not in self._roles:
                argv = _cmdline(pid)
                self._roles[pid] = role(argv)
                command = " ".join(Path(arg).name for arg in argv[:3])
                if self._roles[pid] == "other":
                    self.report.others.add(command)
                self._seen[pid] = {"role": self._roles[pid], "command": command, "start_s": round(now, 3)}
            seen = self._seen[pid]
            seen["end_s"] = round(now, 3)
            seen["peak_mb"] = max(seen.get("peak_mb", 0.0), round(table[pid][1] / MB, 1))
            kind = self._roles[pid]
            if kind == "python program":
                python_owner = pid
            rss = table[pid][1]
            if python_owner is not None:
                kind = "python program"
                python_tree[python_owner] = python_tree.get(python_owner, 0) + rss
            by_role[kind] = by_role.get(kind, 0) + rss
            stack.extend((child, python_owner) for child in children.get(pid, ()))
        for pid, rss in python_tree.items():
            span = self._python.setdefault(pid, [now, now, 0])
            span[1] = now
            span[2] = max(span[2], rss)
        total = sum(by_role.values())
        report = self.report
        report.samples += 1
        report.peak_total = max(report.peak_total, total)
        for kind, rss in by_role.items():
            report.peak_by_role[kind] = max(report.peak_by_role.get(kind, 0), rss)


class EventTail(threading.Thread):
    """Follows an --event-log file; `events` holds (seconds since t0, event) pairs.

    `pulumi up` writes the events of its built-in preview first, then truncates the
    file and writes those of the update: a shrinking file (or a line that is no
    longer JSON because the reader was past the new end) starts a new generation.
    Every event gets the index of its operation in `phases` (0: preview, 1: update).
    """

    def __init__(self, path: Path, t0: float) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.t0 = t0
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.generations = 0
        self._preludes = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self.path.exists():
            if self._halt.wait(0.02):
                if not self.path.exists():
                    return
                break
        handle = self.path.open("rb")
        pending = b""
        seen: set[int] = set()
        try:
            while True:
                size = os.stat(self.path).st_size
                inode = os.stat(self.path).st_ino
                if size < handle.tell() or inode != os.fstat(handle.fileno()).st_ino:
                    handle.close()
                    handle = self.path.open("rb")
                    pending, seen = b"", set()
                    self.generations += 1
                chunk = handle.readline()
                if chunk:
                    pending += chunk
                    if pending.endswith(b"\n"):
                        line, pending = pending, b""
                        if not self._add(line, seen):
                            handle.seek(0)
                            pending, seen = b"", set()
                            self.generations += 1
                    continue
                if self._halt.is_set():
                    for line in (pending + handle.read()).splitlines():
                        self._add(line, seen)
                    return
                time.sleep(0.02)
        finally:
            handle.close()

    def _add(self, raw: bytes, seen: set[int]) -> bool:
        line = raw.strip()
        if not line:
            return True
        try:
            event = json.loads(line)
        except ValueError:
            return False
        sequence = event.get("sequence")
        if isinstance(sequence, int):
            if sequence in seen:
                return True
            seen.add(sequence)
        if "preludeEvent" in event:
            self._preludes += 1
        event["_phase"] = max(self._preludes - 1, 0)
        self.events.append((time.perf_counter() - self.t0, event))
        return True

    def stop(self) -> list[tuple[float, dict[str, Any]]]:
        self._halt.set()
        self.join()
        return self.events


def last_phase(events: list[tuple[float, dict[str, Any]]]) -> list[tuple[float, dict[str, Any]]]:
    """The events of the last operation (the update, after the built-in preview)."""
    if not events:
        return events
    last = max(event["_phase"] for _, event in events)
    return [(stamp, event) for stamp, event in events if event["_phase"] == last]


def steps(events: list[tuple[float, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each resource operation of an update: when it began and ended, in seconds."""
    begun: dict[str, tuple[float, dict[str, Any]]] = {}
    out: list[dict[str, Any]] = []
    for stamp, event in events:
        if "resourcePreEvent" in event:
            meta = event["resourcePreEvent"]["metadata"]
            begun[meta["urn"]] = (stamp, meta)
        elif "resOutputsEvent" in event:
            meta = event["resOutputsEvent"]["metadata"]
            start, pre = begun.pop(meta["urn"], (stamp, meta))
            out.append(
                {
                    "urn": meta["urn"],
                    "name": meta["urn"].rsplit("::", 1)[-1],
                    "type": meta["type"],
                    "op": pre.get("op", ""),
                    "start": round(start, 3),
                    "end": round(stamp, 3),
                }
            )
    return sorted(out, key=lambda step: (step["start"], step["end"]))


def summary(events: list[tuple[float, dict[str, Any]]]) -> dict[str, Any]:
    for _, event in reversed(events):
        if "summaryEvent" in event:
            return dict(event["summaryEvent"])
    return {}


def first_stamp(events: list[tuple[float, dict[str, Any]]]) -> float | None:
    return events[0][0] if events else None
