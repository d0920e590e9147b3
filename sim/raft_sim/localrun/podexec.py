"""Start one container of a local pod: bind its volumes at their container paths, then exec it.

The local kubelet (:mod:`raft_sim.localrun.kubelet`) runs this module under
``unshare --mount --propagation private``, so the bind mounts exist only in the container's own
mount namespace: ``/data``, ``/etc/raft``, ``/corpus``, ``/tmp``, the ServiceAccount token folder
and ``/etc/hosts`` (which maps the cluster's Service names to pod addresses) are what the pod
spec says, while the rest of the file system is the machine's. The argument is a JSON file::

    {"mounts": [{"source": "...", "target": "/data", "readOnly": false}, ...],
     "argv": ["python", "-m", "..."], "env": {"NAME": "value"}, "workingDir": "/"}
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def bind(source: str, target: str, read_only: bool) -> None:
    """Bind-mount ``source`` at ``target`` (creating an empty mount point when needed)."""
    src, dst = Path(source), Path(target)
    if src.is_dir():
        dst.mkdir(parents=True, exist_ok=True)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            dst.touch()
    subprocess.run(["mount", "--bind", str(src), str(dst)], check=True)
    if read_only:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(dst)], check=True)


def main(argv: list[str]) -> int:
    """Mount, then replace this process by the container's command."""
    spec = json.loads(Path(argv[1]).read_text())
    # The project's checkout and environment (what stands for the image's files) stay visible at
    # their own paths even when a pod volume covers them (a checkout under /tmp, say): set them
    # aside first, bind them back after the pod's volumes.
    keep = [k for k in spec.get("keep", []) if any(Path(k).is_relative_to(m["target"]) for m in spec["mounts"])]
    staged = []
    for i, path in enumerate(keep):
        stage = Path(f"/run/raft-local/keep/{os.getpid()}-{i}")
        bind(path, str(stage), False)
        staged.append((stage, path))
    # Mount shorter targets first so /a is in place before /a/b is bound onto it.
    for mount in sorted(spec["mounts"], key=lambda m: m["target"].count("/")):
        bind(mount["source"], mount["target"], bool(mount.get("readOnly")))
    for stage, path in staged:
        bind(str(stage), path, False)
    os.chdir(spec.get("workingDir") or "/")
    command = spec["argv"]
    try:
        os.execvpe(command[0], command, spec["env"])
    except OSError as exc:
        # Exit code 127 and this line are what a container runtime reports for a missing binary.
        print(f"exec {command[0]!r} failed: {exc}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv))
