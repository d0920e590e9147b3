"""The SIMULATED controllers replay the recordings of the REAL ones (tests/fixtures/recordings).

Each recording's root objects are created in a fresh namespace of the simulated cluster and
recorded the same way (raft_sim.recording); every one must pass
:func:`raft_sim.recording.compare`: the same end state, through no state the real controller did
not show, in the recorded order. See tests/fixtures/recordings/README.md for the format and how to
record; ``RAFT_RECORDINGS_DIR`` points the test at another folder (e.g. a recording made from the
simulators themselves while developing).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from raft_dev.cluster import LocalCluster
from raft_sim.recording import load

from replay_support import DEFAULT_RECORDINGS, Replay, recording_files, recordings_dir

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _params() -> list:
    files = recording_files()
    if not files:
        return [pytest.param(None, id="no-recordings",
                             marks=pytest.mark.skip(reason=f"no recordings (*.json) in {recordings_dir()} yet"))]
    return [pytest.param(path, id=path.stem) for path in files]


@pytest.mark.parametrize("path", _params())
def test_simulators_replay_the_real_controllers(path: Path, cluster: LocalCluster, namespace: str) -> None:
    recording = load(path)
    if recordings_dir().resolve() == DEFAULT_RECORDINGS.resolve():
        assert recording["source"] == "real", f"{path.name}: only recordings of the real controllers belong here"
    replay = Replay(cluster.api_client(), namespace, recording)
    if not replay.roots:
        pytest.skip(f"{path.name}: no object of a simulated kind to replay")
    outcomes = replay.run()
    problems = [o.describe() for o in outcomes if o.problem]
    assert not problems, "\n".join(problems) + "\n\nsimulated controllers' log:\n" + cluster.log_tail("sim-controllers")
