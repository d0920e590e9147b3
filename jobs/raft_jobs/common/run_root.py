"""Which RaftRun a run directory belongs to: a recreated run never resumes another's files.

Runs keep their files under ``/data/runs/<run name>``, a path people and ``eval.evalFile``
rely on. A RaftRun deleted and created again under the same name gets a new uid, and must not
pick up the old run's dataset shards, checkpoints or answers. So the first program of a run
writes :data:`OWNER_FILE` (name, namespace, uid) into the directory, and every program checks
it before it reads or writes anything there: a directory owned by another uid is refused with
a message saying what to do. (Keying the directory by uid would also isolate runs, but would
move every path people and evalFile use.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from raft_api.runconfig import RunConfig

OWNER_FILE = ".raft-run.json"


class ForeignRunDirectory(RuntimeError):
    """The run directory belongs to another RaftRun (same name, different uid)."""


def claim_root(config: RunConfig) -> None:
    """Record this run as the owner of ``config.root``, or raise if another run owns it.

    Without a uid (a run config written by hand) nothing is checked.
    """
    uid = config.run.get("uid")
    if not uid:
        return
    root = Path(config.root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / OWNER_FILE
    owner = {"name": config.run.get("name"), "namespace": config.run.get("namespace"), "uid": uid}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        recorded = json.loads(path.read_text() or "{}")
        if recorded.get("uid") != uid:
            raise ForeignRunDirectory(
                f"{root} holds the files of an earlier RaftRun {recorded.get('namespace')}/{recorded.get('name')} "
                f"(uid {recorded.get('uid')}), not of this one (uid {uid}); a recreated RaftRun does not reuse them: "
                f"delete {root} from the volume or give the RaftRun another name") from None
        return
    with os.fdopen(fd, "w") as fh:
        json.dump(owner, fh)
