"""The one simulated local cluster of a test session: a pytest plugin with the fixture ``cluster``.

``tests/conftest.py`` and ``sim/tests/conftest.py`` both name this module in ``pytest_plugins``;
pytest registers a plugin once, so the product's end-to-end tests (``tests/e2e``) and the
simulators' own cluster tests (``sim/tests``) get the same cluster: started by the first test
that asks for it, stopped at the end of the session. A conftest closer to a test may still
define its own ``cluster`` (the real-node tests do).

Its options are what those tests need together:

* the SIMULATED controllers with 2-second stages, and Kubeflow Trainer's CRDs as well as the
  training operator's (``trainer=True``): ``spec.student.trainingApi: auto`` picks TrainJob here,
  so a test that walks the PyTorchJob path says so in its RaftRun;
* the SIMULATED vLLM server on :data:`VLLM_PORT`, serving :data:`TEACHER_MODEL` (the model of
  ``examples/demo.yaml``), which the operator's teacher probe reaches;
* ``OwnerReferencesPermissionEnforcement`` (on by default in OpenShift): every child's owner
  reference with ``blockOwnerDeletion`` needs update on ``raftruns/finalizers``, so every test
  that runs the operator checks that the chart grants it.

Tests keep apart by namespace: each makes its own (:func:`raft_dev.cluster.namespace_fixture`,
the e2e tests' ``runs``), and nothing a test makes is cluster-wide unless the test owns its name.
"""

from __future__ import annotations

from .cluster import cluster_fixture

NAME = "raft-e2e"
VLLM_PORT = 18600
TEACHER_MODEL = "meta-llama/Meta-Llama-3-70B-Instruct"
OPTIONS = {
    "sim_duration": 2.0,
    "trainer": True,
    "vllm_port": VLLM_PORT,
    "vllm_models": (TEACHER_MODEL,),
    "admission_plugins": ("OwnerReferencesPermissionEnforcement",),
}

cluster = cluster_fixture(NAME, **OPTIONS)
