"""Write an OCI archive of one image from an OCI layout, leaving out the blobs containerd has.

    python3 thin_archive.py LAYOUT REF PRESENT_DIGESTS_FILE > image.tar
    python3 thin_archive.py --prune LAYOUT      # drop what no named image of the layout uses

``hack/images/lib.sh`` loads images into the node's containerd with ``ctr images import``. The
project's images share a base of several GB; a full archive per image would copy it every
time. containerd's importer stores the blobs the archive carries and takes the others from its
content store, so the archive only needs the index, the manifest, the config and the layers
containerd lacks (listed, one digest per line, in PRESENT_DIGESTS_FILE).
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


def blob_path(layout: Path, digest: str) -> Path:
    """Where an OCI layout keeps the blob ``digest``."""
    algorithm, hexdigest = digest.split(":", 1)
    return layout / "blobs" / algorithm / hexdigest


def image_blobs(layout: Path, ref: str) -> tuple[dict, list[str]]:
    """The index entry of ``ref`` and the digests of its manifest, config and layers."""
    index = json.loads((layout / "index.json").read_text())
    entries = [m for m in index["manifests"] if (m.get("annotations") or {}).get(REF_NAME) == ref]
    if not entries:
        raise SystemExit(f"{ref} is not in the layout {layout}")
    entry = entries[-1]
    manifest = json.loads(blob_path(layout, entry["digest"]).read_text())
    return entry, [entry["digest"], manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]


def add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def write(layout: Path, ref: str, present: set[str], out: io.BufferedWriter) -> None:
    """The thin archive of ``ref`` to ``out``."""
    entry, digests = image_blobs(layout, ref)
    entry = {**entry, "annotations": {**(entry.get("annotations") or {}), CONTAINERD_NAME: ref}}
    with tarfile.open(fileobj=out, mode="w|") as archive:
        add_bytes(archive, "oci-layout", (layout / "oci-layout").read_bytes())
        index = {"schemaVersion": 2, "manifests": [entry]}
        add_bytes(archive, "index.json", json.dumps(index).encode())
        for i, digest in enumerate(digests):
            if i < 2 or digest not in present:  # the manifest and the config always travel
                archive.add(blob_path(layout, digest), arcname=str(Path("blobs", *digest.split(":", 1))))


def prune(layout: Path) -> int:
    """Keep in ``layout`` only the named images and their blobs; returns the bytes freed."""
    index = json.loads((layout / "index.json").read_text())
    latest = {m["annotations"][REF_NAME]: m for m in index["manifests"] if (m.get("annotations") or {}).get(REF_NAME)}
    named = list(latest.values())
    keep: set[str] = set()
    for entry in named:
        keep.update(image_blobs(layout, entry["annotations"][REF_NAME])[1])
    (layout / "index.json").write_text(json.dumps({**index, "manifests": named}))
    freed = 0
    for blob in (layout / "blobs").glob("*/*"):
        if f"{blob.parent.name}:{blob.name}" not in keep:
            freed += blob.stat().st_size
            blob.unlink()
    return freed


if __name__ == "__main__":
    if sys.argv[1] == "--prune":
        print(f"pruned {prune(Path(sys.argv[2])) / 2**30:.1f} GiB", file=sys.stderr)
        sys.exit(0)
    layout_arg, ref_arg, present_file = sys.argv[1:4]
    have = set(Path(present_file).read_text().split())
    write(Path(layout_arg), ref_arg, have, sys.stdout.buffer)
