"""Failure states end to end against the real controllers (KubeRay, Kubeflow Trainer with JobSet).

Each RaftRun here is broken in one way a user can break it and that admission cannot see; each
must end Failed with a one-line message naming the cause, soon (``pendingDeadlineSeconds`` is
set to its minimum), and deleting the failed run removes every child.
"""

from __future__ import annotations

import time

import pytest

from realrun_support import manifest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

OPERATOR_IMAGE = "localhost/raft-operator/operator:local"  # built here; it has no Ray and no torch
MISSING_IMAGE = "localhost/raft-operator/missing:0.0.0"  # never built, and nothing is pulled here
FAIL_FAST = {"backoffLimit": 0, "pendingDeadlineSeconds": 10}
# Each child kind the operator may create, for the check that deletion removes them all.
CHILD_KINDS = ("deployments", "services", "configmaps", "rayjobs", "rayclusters", "trainjobs", "jobsets", "jobs",
               "pytorchjobs", "networkpolicies", "roles", "rolebindings", "serviceaccounts", "pods")


def broken(run: str, *, images: dict[str, str] | None = None, corpus: str | None = None) -> dict:
    """The smallest run, failing fast, with some images or the corpus replaced."""
    body = manifest(run)
    body["spec"]["failurePolicy"] = dict(FAIL_FAST)
    body["spec"]["scheduling"]["images"].update(images or {})
    if corpus:
        body["spec"]["corpus"] = {"volume": {"claimName": corpus}}
    return body


def run_to_failure(stack, body: dict, timeout: float = 420) -> dict:
    """Apply the run, wait for its end, delete it; returns its final status. Fails if it succeeded
    or if a child outlives it."""
    name = body["metadata"]["name"]
    stack.apply(body)
    try:
        status = stack.watch(name, timeout=timeout)
    except TimeoutError as exc:
        pytest.fail(f"{exc}\n{stack.pod_logs()[-6000:]}")
    assert status.get("phase") == "Failed", status
    stack.cluster.kubectl("delete", "raftrun", name, "-n", stack.namespace, "--wait=true", "--timeout=120s")
    deadline = time.monotonic() + 120
    while (left := children(stack, name)) and time.monotonic() < deadline:
        time.sleep(2)
    assert not left, f"children of {name} outlived it: {left}"
    return status


def children(stack, run: str) -> list[str]:
    """The objects in the stack's namespace whose name starts with the run's (its children and theirs)."""
    out = stack.cluster.kubectl("get", ",".join(CHILD_KINDS), "-n", stack.namespace, "-o", "name", check=False).stdout
    return [line for line in out.split() if line.split("/", 1)[-1].startswith(f"{run}-")]


def one_line(status: dict) -> str:
    message = status.get("message") or ""
    assert message and "\n" not in message, status
    return message


@pytest.fixture(scope="module")
def real_stack(stack):
    stack, _ = stack
    stack.corpus_claim("ci-empty", [])
    return stack


def test_an_image_that_does_not_exist(real_stack):
    """The Ray head's image cannot be pulled: the run fails once the pending deadline passes,
    naming the image error, and holds nothing after."""
    status = run_to_failure(real_stack, broken("f-image", images={"datagen": MISSING_IMAGE}))
    message = one_line(status)
    assert status["stage"] == "datagen", status
    assert any(word in message for word in ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull")), message


def test_a_ray_head_that_never_becomes_ready(real_stack):
    """KubeRay's head starts `ray start` in an image without Ray: the container exits at once and
    restarts, the head never becomes ready, and the run fails naming the crash loop."""
    status = run_to_failure(real_stack, broken("f-head", images={"datagen": OPERATOR_IMAGE}))
    message = one_line(status)
    assert status["stage"] == "datagen" and "CrashLoopBackOff" in message, message


def test_the_datagen_entrypoint_exiting_non_zero(real_stack):
    """KubeRay's submitter runs the datagen program on an empty corpus: it exits non-zero, the
    RayJob fails (backoffLimit 0) and the run fails with the job's message."""
    status = run_to_failure(real_stack, broken("f-entry", corpus="ci-empty"))
    message = one_line(status)
    assert status["stage"] == "datagen", message


def test_a_trainer_worker_exiting_non_zero(real_stack):
    """Trainer's node pod runs torchrun in an image without torch: it exits non-zero, the JobSet
    and the TrainJob fail (backoffLimit 0) and the run fails at fine-tuning."""
    status = run_to_failure(real_stack, broken("f-train", images={"trainer": OPERATOR_IMAGE}), timeout=600)
    message = one_line(status)
    assert status["stage"] == "finetune", message
