"""Draw docs/architecture-<stack>.svg from what the program really registers.

The program runs under Pulumi mocks (no cluster, no CLI), so the picture shows the
namespaces, workloads, Services, routes and data volumes that `pulumi up` creates
for that stack. `make docs` runs it for every stack; the output is deterministic.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.unit.harness import Registration, Run, run_stack  # noqa: E402

STACK_SECRETS = {"minikube": {"openaiApiKey": "sk-diagram-placeholder"}}
BOX_WIDTH = 340
LINE = 18
PAD = 12
GAP = 30
TOP = 170
ROUTE_COLORS = ("#b91c1c", "#1d4ed8", "#047857", "#7c3aed", "#b45309")
COLORS = {
    "Deployment": "#dbeafe",
    "StatefulSet": "#fde68a",
    "CronJob": "#e9d5ff",
    "Service": "#dcfce7",
    "Volume": "#fee2e2",
}


@dataclass
class Item:
    kind: str
    text: str


@dataclass
class Namespace:
    name: str
    status: str
    items: list[Item] = field(default_factory=list)

    def height(self) -> int:
        return 2 * PAD + LINE * 2 + LINE * len(self.items) + 6 * len(self.items)


def _namespaces(run: Run) -> dict[str, Namespace]:
    spaces = {
        r.k8s_name or "": Namespace(r.k8s_name or "", r.metadata["labels"].get("status", ""))
        for r in run.of_kind("Namespace")
    }

    def add(r: Registration, kind: str, text: str) -> None:
        spaces[r.namespace or ""].items.append(Item(kind, text))

    for r in run.workloads():
        if r.kind == "CronJob":
            add(r, "CronJob", f"CronJob {r.k8s_name} ({r.inputs['spec']['schedule']})")
            continue
        replicas = int(r.inputs["spec"].get("replicas", 1))
        add(r, r.kind, f"{r.kind} {r.k8s_name} x{replicas}")
        for claim in r.inputs["spec"].get("volumeClaimTemplates", []):
            size = claim["spec"]["resources"]["requests"]["storage"]
            add(r, "Volume", f"volume {claim['metadata']['name']}-{r.k8s_name}-0 {size}")
    for r in run.of_kind("Service"):
        spec = r.inputs["spec"]
        ports = ",".join(str(int(p["port"])) for p in spec["ports"])
        kind = spec.get("type", "ClusterIP") if spec.get("clusterIP") != "None" else "headless"
        add(r, "Service", f"Service {r.k8s_name}:{ports} ({kind})")
    for r in run.of_kind("PersistentVolumeClaim"):
        add(r, "Volume", f"volume {r.k8s_name} {r.inputs['spec']['resources']['requests']['storage']}")
    order = list(COLORS)
    for ns in spaces.values():
        ns.items.sort(key=lambda item: (order.index(item.kind), item.text))
    return dict(sorted(spaces.items(), key=lambda entry: (entry[1].status != "active", entry[0])))


def _routes(run: Run) -> list[tuple[str, str, str]]:
    """(path, namespace, service) for every Ingress path."""
    routes = []
    for ingress in run.of_kind("Ingress"):
        for rule in ingress.inputs["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                routes.append((path["path"], ingress.namespace or "", path["backend"]["service"]["name"]))
    return sorted(routes)


def render(stack: str) -> str:
    run = run_stack(stack, secrets=STACK_SECRETS.get(stack))
    spaces = list(_namespaces(run).values())
    routes = _routes(run)
    width = GAP + len(spaces) * (BOX_WIDTH + GAP)
    height = TOP + max(ns.height() for ns in spaces) + GAP
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{GAP}" y="28" font-size="16" font-weight="bold">'
        f"stack {escape(stack)}: {escape(str(run.outputs['url']))}</text>",
    ]
    anchors: dict[tuple[str, str], tuple[float, float]] = {}
    for index, ns in enumerate(spaces):
        x = GAP + index * (BOX_WIDTH + GAP)
        dash = ' stroke-dasharray="6 4"' if ns.status == "placeholder" else ""
        out.append(
            f'<rect x="{x}" y="{TOP}" width="{BOX_WIDTH}" height="{ns.height()}" rx="10" '
            f'fill="#f8fafc" stroke="#334155"{dash}/>'
        )
        out.append(
            f'<text x="{x + PAD}" y="{TOP + PAD + 12}" font-weight="bold">{escape(ns.name)}</text>'
            f'<text x="{x + PAD}" y="{TOP + PAD + 12 + LINE}" fill="#64748b">namespace, {escape(ns.status)}</text>'
        )
        y = TOP + PAD + 2 * LINE + 6
        for item in ns.items:
            out.append(
                f'<rect x="{x + PAD}" y="{y}" width="{BOX_WIDTH - 2 * PAD}" height="{LINE}" rx="4" '
                f'fill="{COLORS[item.kind]}"/>'
                f'<text x="{x + PAD + 6}" y="{y + 13}">{escape(item.text)}</text>'
            )
            if item.kind == "Service":
                name = item.text.split(" ")[1].split(":")[0]
                anchors[(ns.name, name)] = (x + PAD, y + LINE / 2)
            y += LINE + 6
    gateway_x = width / 2
    out.append(
        f'<rect x="{gateway_x - 110}" y="44" width="220" height="30" rx="6" fill="#0f172a"/>'
        f'<text x="{gateway_x}" y="64" fill="#ffffff" text-anchor="middle">gateway (Ingress per namespace)</text>'
    )
    for number, (path, namespace, service) in enumerate(routes):
        tx, ty = anchors[(namespace, service)]
        color = ROUTE_COLORS[number % len(ROUTE_COLORS)]
        out.append(
            f'<path d="M{gateway_x} 74 C{gateway_x} 120, {tx - 40} {ty}, {tx} {ty}" fill="none" '
            f'stroke="{color}" stroke-width="1.5"/>'
            f'<text x="{GAP}" y="{64 + 16 * number}" fill="{color}">'
            f"{escape(path)} to {escape(namespace)}/{escape(service)}</text>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> None:
    for stack in ("local", "minikube", "staging"):
        target = ROOT / "docs" / f"architecture-{stack}.svg"
        target.write_text(render(stack))
        print(f"[docs] wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
