"""versitygw (S3-compatible, Apache-2.0) on 127.0.0.1 with a POSIX directory backend,
and the AWS CLI that the backup job's upload container runs."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.realserver.pods import free_port, pinned_versions, start, stop, tool_dir, wait_for

ACCESS_KEY = "drill-access-key"
SECRET_KEY = "drill-secret-key-0123456789"


def aws_bin() -> Path:
    return tool_dir(f"awscli-{pinned_versions()['AWSCLI_VERSION']}", "awscli") / "bin"


@dataclass
class ObjectStore:
    endpoint: str
    root: Path

    def aws(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_CONFIG_FILE": str(self.root / "aws-config"),
        }
        result = subprocess.run(
            [str(aws_bin() / "aws"), *args], env=env, capture_output=True, text=True, check=False, timeout=120
        )
        if check and result.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def keys(self, bucket: str) -> list[str]:
        listed = self.aws(
            "s3api", "list-objects-v2", "--bucket", bucket, "--query", "Contents[].Key", "--output", "text"
        )
        return sorted(key for key in listed.stdout.split() if key != "None")


@contextmanager
def versitygw(root: Path) -> Iterator[ObjectStore]:
    binary = tool_dir(f"versitygw-{pinned_versions()['VERSITYGW_VERSION']}", "versitygw") / "versitygw"
    data = root / "s3"
    data.mkdir(parents=True)
    (root / "aws-config").write_text("[default]\ns3 =\n    addressing_style = path\n")
    port = free_port()
    log = root / "versitygw.log"
    env: Mapping[str, str] = {**os.environ, "ROOT_ACCESS_KEY_ID": ACCESS_KEY, "ROOT_SECRET_ACCESS_KEY": SECRET_KEY}
    command: Sequence[str] = [str(binary), "--port", f"127.0.0.1:{port}", "posix", str(data)]
    process = start(command, log=log, env=env)
    store = ObjectStore(f"http://127.0.0.1:{port}", root)

    def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"versitygw exited:\n{log.read_text()[-3000:]}")
        return store.aws("s3api", "list-buckets", check=False).returncode == 0

    try:
        wait_for(answering, f"versitygw on 127.0.0.1:{port}", log=log)
        yield store
    finally:
        stop(process, 15)
