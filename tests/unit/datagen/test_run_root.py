"""A RaftRun recreated with the same name never resumes the earlier run's files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from raft_jobs.common.run_root import OWNER_FILE, ForeignRunDirectory, claim_root
from raft_api.runconfig import RunConfig
from raft_jobs.datagen.pipeline import DatagenError, run_datagen


def config(root: Path, uid: str | None) -> RunConfig:
    return RunConfig(run={"name": "docs", "namespace": "team", **({"uid": uid} if uid else {})}, root=str(root))


def test_the_first_run_claims_the_directory_and_a_recreated_one_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "runs" / "docs"
    claim_root(config(root, "uid-1"))
    claim_root(config(root, "uid-1"))  # every later stage of the same run
    assert json.loads((root / OWNER_FILE).read_text()) == {"name": "docs", "namespace": "team", "uid": "uid-1"}
    with pytest.raises(ForeignRunDirectory, match="uid uid-1.*not of this one .uid uid-2.*delete"):
        claim_root(config(root, "uid-2"))
    claim_root(config(root, None))  # a hand-written run.yaml without uid is not checked


def test_each_program_refuses_a_directory_of_another_run(tmp_path: Path) -> None:
    root = tmp_path / "runs" / "docs"
    claim_root(config(root, "old-uid"))
    (root / "dataset" / "shards").mkdir(parents=True)  # the earlier run's resumable state
    new = config(root, "new-uid")
    new.teacher.endpoints, new.teacher.model = ["http://127.0.0.1:9/v1"], "t"
    with pytest.raises(DatagenError, match="earlier RaftRun team/docs"):
        run_datagen(new)

    from raft_jobs.eval.runner import EvalError, evaluate
    with pytest.raises(EvalError, match="earlier RaftRun team/docs"):
        asyncio.run(evaluate(new, lambda *a, **k: None))

    from raft_jobs.finetune.errors import FinetuneError
    from raft_jobs.finetune.recipe import run
    with pytest.raises(FinetuneError, match="earlier RaftRun team/docs"):
        run(new, info=None)  # type: ignore[arg-type]
