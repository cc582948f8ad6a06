"""Run a Pulumi command on a stack with this checkout's local state.

    python scripts/stack.py up --stack local [-- extra pulumi arguments]
    python scripts/stack.py config --stack minikube -- set --secret platform:openaiApiKey

What it sets up, once, under `.state/` (ignored by git):
- a file backend, `pulumi login file://.state/backend`;
- a generated passphrase for the passphrase secrets provider, `.state/passphrase`;
- the stack's config file, `.state/stacks/Pulumi.<stack>.yaml`: the committed
  `Pulumi.<stack>.yaml` plus what is this machine's own (the encryption salt and
  values set with `pulumi config set --secret`). Pulumi writes those into the stack
  file; keeping them here leaves the committed file clean.

With `--render DIR`, the Kubernetes provider writes manifests to DIR instead of
touching a cluster (its own backend: `.state/render`).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".state"
PREFIX = "[stack]"


def say(message: str) -> None:
    print(f"{PREFIX} {message}", flush=True)


def fail(message: str) -> None:
    print(f"{PREFIX} error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def passphrase_file() -> Path:
    path = STATE / "passphrase"
    if not path.exists():
        STATE.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32) + "\n")
        say(f"generated a passphrase for local stacks in {path.relative_to(ROOT)} (keep it: it decrypts the state)")
    return path


def environment(backend: Path) -> dict[str, str]:
    backend.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env |= {
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase_file()),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }
    env.pop("PULUMI_CONFIG_PASSPHRASE", None)
    return env


def target_cluster(env: dict[str, str]) -> None:
    """Point the provider at the local cluster unless a kubeconfig was chosen, and
    never fall back to ~/.kube/config: that could be anybody's cluster."""
    if "KUBECONFIG" in env:
        return
    kubeconfig = STATE / "kubeconfig"
    if not kubeconfig.exists():
        fail("no local cluster (.state/kubeconfig): run `make cluster`, or pass KUBE=<kubeconfig> to make")
    env["KUBECONFIG"] = str(kubeconfig)


def machine_config(stack: str, config_dir: Path) -> Path:
    """Merge the committed stack file with this machine's salt and secret values."""
    committed_path = ROOT / f"Pulumi.{stack}.yaml"
    if not committed_path.exists():
        fail(f"no stack file {committed_path.name}; the stacks are: {', '.join(sorted(stack_names()))}")
    committed: dict[str, Any] = yaml.safe_load(committed_path.read_text()) or {}
    target = config_dir / f"Pulumi.{stack}.yaml"
    local: dict[str, Any] = yaml.safe_load(target.read_text()) if target.exists() else {}
    local = local or {}
    merged = dict(committed)
    config = dict(committed.get("config") or {})
    for key, value in (local.get("config") or {}).items():
        if isinstance(value, dict) and "secure" in value and key not in config:
            config[key] = value
    merged["config"] = config
    # A stack file that carries its own secrets settings (a team's shared stack)
    # keeps them; otherwise this machine's are used.
    for key in ("encryptionsalt", "secretsprovider", "encryptedkey"):
        if key in local and key not in committed:
            merged[key] = local[key]
    config_dir.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(merged, sort_keys=False))
    return target


def stack_names() -> list[str]:
    return [path.name.split(".")[1] for path in ROOT.glob("Pulumi.*.yaml")]


def pulumi(args: list[str], env: dict[str, str], *, check: bool = True) -> int:
    result = subprocess.run(["pulumi", *args], cwd=ROOT, env=env, check=False)
    if check and result.returncode != 0:
        fail(f"`pulumi {' '.join(args)}` exited with {result.returncode}")
    return result.returncode


def select(stack: str, env: dict[str, str], config_file: Path) -> None:
    """Select the stack, creating it in the local backend the first time."""
    exists = subprocess.run(
        ["pulumi", "stack", "select", stack], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if exists.returncode == 0:
        return
    committed = ROOT / f"Pulumi.{stack}.yaml"
    original = committed.read_text()
    try:
        # `stack init` writes the new salt into the committed file: move it to ours.
        pulumi(["stack", "init", stack, "--secrets-provider", "passphrase"], env)
        created: dict[str, Any] = yaml.safe_load(committed.read_text()) or {}
    finally:
        committed.write_text(original)
    ours: dict[str, Any] = yaml.safe_load(config_file.read_text()) or {}
    ours["encryptionsalt"] = created["encryptionsalt"]
    config_file.write_text(yaml.safe_dump(ours, sort_keys=False))
    say(f"created stack {stack} in {env['PULUMI_BACKEND_URL']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "preview", "destroy", "refresh", "outputs", "config", "cancel"])
    parser.add_argument("--stack", default="local")
    parser.add_argument("--policy-pack", help="run `pulumi preview`/`up` with this policy pack directory")
    parser.add_argument("--render", metavar="DIR", help="write manifests to DIR instead of deploying")
    parser.add_argument("--secret", action="append", default=[], metavar="KEY=VALUE", help="set a secret config value")
    # Everything after `--` goes to pulumi as it is.
    argv, extra = sys.argv[1:], []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    options = parser.parse_args(argv)
    if shutil.which("pulumi") is None:
        fail("the pulumi CLI is not on PATH; run `make tools` (it builds it) and `. tools/env.sh`")

    backend = STATE / ("render" if options.render else "backend")
    config_dir = STATE / ("render-stacks" if options.render else "stacks")
    if options.render:
        # The provider writes a manifest only when it creates or updates an object:
        # every render starts from an empty stack.
        for stale in (backend, config_dir):
            shutil.rmtree(stale, ignore_errors=True)
    env = environment(backend)
    if not options.render and options.command in ("up", "preview", "destroy", "refresh"):
        target_cluster(env)
    config_file = machine_config(options.stack, config_dir)
    select(options.stack, env, config_file)
    stack_args = ["--stack", options.stack, "--config-file", str(config_file)]
    for item in options.secret:
        key, _, value = item.partition("=")
        pulumi(["config", "set", "--secret", key, value, *stack_args], env)
    if options.render:
        directory = Path(options.render).resolve()
        shutil.rmtree(directory, ignore_errors=True)
        pulumi(["config", "set", "kubernetes:renderYamlToDirectory", str(directory), *stack_args], env)

    started = time.monotonic()
    command = options.command
    if command == "outputs":
        pulumi(["stack", "output", *stack_args[:2]], env)
        return
    if command == "config":
        pulumi(["config", *stack_args, *extra], env)
        return
    if command == "cancel":
        pulumi(["cancel", "--yes", *stack_args[:2]], env)
        return
    args = [command, *stack_args]
    if command in ("up", "destroy", "refresh"):
        # destroy keeps its preview: on a protected stack it stops before deleting anything.
        args += ["--yes", "--skip-preview"] if command == "refresh" else ["--yes"]
    if command in ("up", "preview") and options.policy_pack:
        args += ["--policy-pack", str(Path(options.policy_pack).resolve())]
    if command == "preview":
        args.append("--diff")
    if command == "up" and not options.render:
        args.append("--suppress-outputs")  # printed once, as a table, at the end
    say(f"pulumi {' '.join(args)}")
    pulumi([*args, *extra], env)
    say(f"{command} of stack {options.stack} finished in {time.monotonic() - started:.0f}s")
    if command == "up" and not options.render:
        pulumi(["stack", "output", *stack_args[:2]], env)


if __name__ == "__main__":
    main()
