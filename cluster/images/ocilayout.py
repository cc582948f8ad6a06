"""OCI image layouts: write one image into a layout directory, read what a layout serves.

Only the standard library, so cluster/images/build.py and registry.py run with the
system python3 before the project's venv exists. The format is the OCI image spec's
image layout (`oci-layout`, `index.json`, `blobs/sha256/<hex>`), with image manifests
and configs of the OCI media types, which containerd pulls as it pulls Docker's.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class Descriptor:
    """A blob in the layout: what the spec calls a content descriptor."""

    media_type: str
    digest: str
    size: int

    def as_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclasses.dataclass(frozen=True)
class Layer:
    """A gzip layer blob and the digest of its uncompressed tar (the config's diff_id)."""

    blob: Descriptor
    diff_id: str


@dataclasses.dataclass(frozen=True)
class Entry:
    """One member of a layer we write ourselves. `data` makes a regular file,
    `link` a symbolic link, neither a directory."""

    path: str
    mode: int = 0o755
    data: bytes | None = None
    link: str | None = None
    uid: int = 0
    gid: int = 0
    # Extended attributes as PAX records, e.g. `security.capability` of a binary.
    xattrs: Mapping[str, bytes] = dataclasses.field(default_factory=dict)


class _Hashing(io.RawIOBase):
    """A write-only stream that hashes and counts what passes through to `sink`."""

    def __init__(self, sink: IO[bytes]) -> None:
        self.sink = sink
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.sha.update(chunk)
        self.size += len(chunk)
        self.sink.write(chunk)
        return len(chunk)


class LayoutWriter:
    """Writes blobs into a new layout directory `root`, then one image's index."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.blobs.mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    def _store(self, temp: Path, sha: str) -> str:
        os.replace(temp, self.blobs / sha)
        return f"sha256:{sha}"

    def add_bytes(self, data: bytes, media_type: str) -> Descriptor:
        sha = hashlib.sha256(data).hexdigest()
        (self.blobs / sha).write_bytes(data)
        return Descriptor(media_type, f"sha256:{sha}", len(data))

    def add_json(self, document: Mapping[str, Any], media_type: str) -> Descriptor:
        return self.add_bytes(canonical_json(document), media_type)

    def add_tar_layer(self, chunks: Iterable[bytes]) -> Layer:
        """Gzip an uncompressed tar stream into a layer blob. The gzip header carries
        no name and no time, so the same tar always gives the same digest."""
        temp = self.blobs / ".layer.tmp"
        diff = hashlib.sha256()
        with temp.open("wb") as sink:
            hashing = _Hashing(sink)
            with gzip.GzipFile(filename="", mode="wb", fileobj=hashing, mtime=0, compresslevel=6) as zipped:
                for chunk in chunks:
                    diff.update(chunk)
                    zipped.write(chunk)
        digest = self._store(temp, hashing.sha.hexdigest())
        return Layer(Descriptor(LAYER_MEDIA_TYPE, digest, hashing.size), f"sha256:{diff.hexdigest()}")

    def add_tar_file_layer(self, tar: Path) -> Layer:
        def chunks() -> Iterable[bytes]:
            with tar.open("rb") as source:
                while chunk := source.read(CHUNK):
                    yield chunk

        return self.add_tar_layer(chunks())

    def add_entries_layer(self, entries: Sequence[Entry], mtime: int) -> Layer:
        return self.add_tar_layer([entries_tar(entries, mtime)])

    def write_image(
        self,
        ref_name: str,
        layers: Sequence[Layer],
        config: Mapping[str, Any],
        *,
        created: str,
        history: Sequence[str],
        architecture: str = "amd64",
    ) -> Descriptor:
        """Write the image config, its manifest and index.json naming it `ref_name`."""
        image_config = {
            "created": created,
            "architecture": architecture,
            "os": "linux",
            "config": dict(config),
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
            "history": [{"created": created, "created_by": line} for line in history],
        }
        config_blob = self.add_json(image_config, CONFIG_MEDIA_TYPE)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": config_blob.as_json(),
            "layers": [layer.blob.as_json() for layer in layers],
        }
        manifest_blob = self.add_json(manifest, MANIFEST_MEDIA_TYPE)
        index = {
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": [
                {
                    **manifest_blob.as_json(),
                    "platform": {"architecture": architecture, "os": "linux"},
                    "annotations": {REF_NAME: ref_name},
                }
            ],
        }
        (self.root / "index.json").write_bytes(canonical_json(index))
        return manifest_blob


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """Sorted keys, no spaces: the same document always has the same digest."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def entries_tar(entries: Sequence[Entry], mtime: int) -> bytes:
    """An uncompressed tar of `entries` in path order, with a fixed time and owners
    given by number only, so equal entries give equal bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(entries, key=lambda e: e.path):
            info = tarfile.TarInfo(entry.path.lstrip("/"))
            info.mtime, info.mode, info.uid, info.gid = mtime, entry.mode, entry.uid, entry.gid
            info.uname = info.gname = ""
            if entry.xattrs:
                info.pax_headers = {
                    f"SCHILY.xattr.{key}": value.decode("utf-8", "surrogateescape")
                    for key, value in entry.xattrs.items()
                }
            if entry.link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, entry.link
                tar.addfile(info)
            elif entry.data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
    return buffer.getvalue()


# -- reading ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ServedImage:
    """One reference a layout names, with its manifest."""

    ref_name: str
    manifest: Descriptor
    layout: Path

    def blob_path(self, digest: str) -> Path | None:
        return blob_path(self.layout, digest)


def blob_path(layout: Path, digest: str) -> Path | None:
    """The file of `digest` in `layout`, or None for a malformed or absent digest."""
    algorithm, _, hexdigest = digest.partition(":")
    if algorithm != "sha256" or len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest):
        return None
    path = layout / "blobs" / "sha256" / hexdigest
    return path if path.is_file() else None


def read_layout(layout: Path) -> list[ServedImage]:
    """The images `layout`'s index.json names (manifests without a ref name are skipped)."""
    index = json.loads((layout / "index.json").read_text())
    served = []
    for entry in index.get("manifests", []):
        ref_name = entry.get("annotations", {}).get(REF_NAME)
        if ref_name:
            descriptor = Descriptor(entry["mediaType"], entry["digest"], int(entry["size"]))
            served.append(ServedImage(ref_name, descriptor, layout))
    return served


def find_layouts(paths: Iterable[Path]) -> list[Path]:
    """Each path that is a layout, and the layouts directly inside each that is not."""
    found = []
    for path in paths:
        if (path / "index.json").is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(child for child in path.iterdir() if (child / "index.json").is_file()))
    return found


def full_reference(image: str) -> str:
    """`image` as containerd names it: the registry host first (docker.io when the
    first component is not a host) and Docker Hub's official images under library/."""
    first, _, rest = image.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        first, rest = "docker.io", image
    if first == "docker.io" and "/" not in rest:
        rest = f"library/{rest}"
    return f"{first}/{rest}"
