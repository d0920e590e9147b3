"""The Argo CD health check (charts/raft-operator/argocd/health.lua), run by a real Lua
interpreter against RaftRuns in every state, with the status the reconciler writes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from run_states import FAILED_STAGES, run_states  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[3]
HEALTH_LUA = REPO_ROOT / "charts" / "raft-operator" / "argocd" / "health.lua"
# Argo CD runs gopher-lua, which implements Lua 5.1: prefer that interpreter.
LUA_COMMANDS = ("lua5.1", "lua5.4", "lua5.3", "lua")
LUA_PACKAGE = "lua5.1"  # Debian package


def _find_lua() -> str | None:
    return next((path for name in LUA_COMMANDS if (path := shutil.which(name))), None)


def _apt_install(package: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "install", "-y", "-qq", package], ["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", package]):
        done = subprocess.run(command, env=env, capture_output=True, timeout=600)
        if command[1] == "install" and done.returncode == 0:
            return


@pytest.fixture(scope="session")
def lua() -> str:
    """A Lua interpreter; installed from Debian's packages when missing and apt can run."""
    found = _find_lua()
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        _apt_install(LUA_PACKAGE)
        found = _find_lua()
    if found is None:
        pytest.skip(f"no Lua interpreter and apt-get cannot install one here (apt-get install {LUA_PACKAGE})")
    return found


def lua_literal(value: Any) -> str:
    """A Python JSON value as a Lua table constructor (what Argo CD hands the script as obj)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{lua_literal(k)}] = {lua_literal(v)}" for k, v in value.items() if v is not None) + "}"
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).encode()
    return '"' + "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\{b:03d}" for b in text) + '"'


def argo_health(lua: str, obj: dict[str, Any], script: Path = HEALTH_LUA) -> tuple[str, str]:
    """Run the health script as Argo CD does: `obj` is a global, the chunk returns hs."""
    runner = (f"obj = {lua_literal(obj)}\n"
              f"local hs = assert(loadfile({lua_literal(str(script))}))()\n"
              'io.write(tostring(hs.status), "\\n", tostring(hs.message))\n')
    done = subprocess.run([lua, "-"], input=runner, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    status, _, message = done.stdout.partition("\n")
    return status, message


STATES = run_states()

EXPECTED = {
    "new": ("Progressing", "Waiting for raft-operator to reconcile the run"),
    "serving-teacher": ("Progressing", "ServingTeacher, stage teacher: teacher 0/1 ready"),
    "generating-data": ("Progressing", "GeneratingData, stage datagen: chunks 30/120 (25%)"),
    "reconcile-error": ("Degraded", "Reconcile error: ApiException: (403) Forbidden: rayjobs.ray.io is forbidden"),
    "fine-tuning": ("Progressing", "FineTuning, stage finetune: step 50/200 (25%)"),
    "evaluating": ("Progressing", "Evaluating, stage eval: student servers 0/2 ready"),
    "new-generation": ("Progressing", "Waiting for raft-operator to reconcile generation 2"),
    "suspended": ("Suspended", "suspended: set spec.suspend to false to resume"),
    "succeeded": ("Healthy", "Succeeded: judge 0.80 (+25% vs base)"),
    **{f"failed-in-{stage}": ("Degraded", f"{stage} failed: ") for stage in FAILED_STAGES},
}


def test_every_phase_of_the_crd_is_covered() -> None:
    from raft_api.status import PHASES

    seen = {(run.get("status") or {}).get("phase") for run in STATES.values()}
    assert set(PHASES) - seen <= {"Pending"}, "Pending is only a fallback the reconciler never leaves a run in"
    assert set(EXPECTED) == set(STATES)


@pytest.mark.parametrize("state", sorted(STATES))
def test_health_of_each_state(lua: str, state: str) -> None:
    status, message = argo_health(lua, STATES[state])
    want_status, want_message = EXPECTED[state]
    assert status == want_status, message
    if state.startswith("failed-in-"):
        assert message.startswith(want_message) and message == STATES[state]["status"]["message"]
    else:
        assert message == want_message


def test_pending_phase_is_progressing(lua: str) -> None:
    run = {**STATES["serving-teacher"], "status": {**STATES["serving-teacher"]["status"], "phase": "Pending",
                                                   "stage": "teacher", "progress": ""}}
    assert argo_health(lua, run) == ("Progressing", "Pending, stage teacher")


def test_stalled_without_a_failed_phase_is_degraded(lua: str) -> None:
    run = STATES["failed-in-datagen"]
    run = {**run, "status": {k: v for k, v in run["status"].items() if k not in ("phase", "message")}}
    run["status"]["phase"] = "GeneratingData"
    status, message = argo_health(lua, run)
    assert status == "Degraded" and "teacher stayed down" in message


def test_the_example_argocd_cm_ships_the_same_script() -> None:
    cm = yaml.safe_load((REPO_ROOT / "examples" / "gitops" / "argocd" / "argocd-cm.yaml").read_text())
    assert cm["metadata"]["name"] == "argocd-cm"
    assert cm["data"]["resource.customizations.health.raftoperator.io_RaftRun"] == HEALTH_LUA.read_text()


def test_script_uses_lua_5_1_only() -> None:
    text = HEALTH_LUA.read_text()
    for construct in ("goto ", "//", "<const>", "<close>", "utf8.", "table.move", "math.type"):
        assert construct not in text, f"{construct!r} is not Lua 5.1 (Argo CD runs gopher-lua)"
