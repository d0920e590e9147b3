"""The development platform: what this project runs its own software on, on one machine.

Not a stand-in for anyone else's software (those are in :mod:`raft_sim`), but the tooling around
them: the local cluster (:mod:`raft_dev.cluster`, over ``hack/cluster``), the pinned helm
(:mod:`raft_dev.helm`), the operator as a local process or as the chart's pod
(:mod:`raft_dev.operator_process`, :mod:`raft_dev.operator_pod`), claims on the local cluster
(:mod:`raft_dev.storage`), the real local runs of ``make demo`` (:mod:`raft_dev.localrun`) and the
one simulated cluster a test session shares (:mod:`raft_dev.shared_cluster`, a pytest plugin).

Part of the ``raft-sim`` distribution (``sim/pyproject.toml``): development only, never in a
production image, never imported by ``operator/``, ``jobs/`` or ``api/``.
"""
