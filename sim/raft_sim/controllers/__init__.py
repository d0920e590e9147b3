"""SIMULATED stand-ins for the controllers of the child kinds a RaftRun creates.

Used by the local test cluster (``hack/cluster``) and the demo only; nothing here is KubeRay,
the training operator, Kubeflow Trainer or LeaderWorkerSet, and nothing in production imports
it. One module per simulated controller, each a :class:`~raft_sim.controllers.base.Controller`:

* :mod:`~raft_sim.controllers.rayjob`: KubeRay's RayJob (ray.io/v1);
* :mod:`~raft_sim.controllers.pytorchjob`: the training operator's PyTorchJob (kubeflow.org/v1);
* :mod:`~raft_sim.controllers.trainjob`: Kubeflow Trainer's TrainJob, when its CRD is installed;
* :mod:`~raft_sim.controllers.leaderworkerset`: LeaderWorkerSet, when its CRD is installed;
* :mod:`~raft_sim.controllers.evaljob`: the eval program's part in an eval Job's pods;
* :mod:`~raft_sim.controllers.volumes`: the hostPath provisioner of the local StorageClass.

:mod:`~raft_sim.controllers.manager` runs them all in one process (one worker thread by default,
level-triggered reconciles driven by watches and timed requeues); they read pods, owners and run
configs from watch caches (:mod:`~raft_sim.controllers.cache`), as the real controllers read
their informers.

While a stage runs, the controllers also play the workload program's part of the progress
channel: they patch key ``datagen`` / ``finetune`` / ``eval`` of the ConfigMap that the run's
run.yaml names (``progress.configMap``, as the programs read it) with plausible numbers
(:mod:`~raft_sim.controllers.progress`; see docs/architecture.md, "Progress channel"). With
``--real-workloads`` the pods really run (the real node, ``hack/cluster/node.sh``): the
controllers inject what the real ones inject into the pods, read the outcome from the
workloads and leave progress to the programs.

Failure injection never needs a changed manifest: annotations are read from the object's
owners (ownerReferences, any kind, typically the RaftRun) and then from the object itself:

* ``sim.raftoperator.io/fail``: comma-separated stages to fail (``datagen``, ``finetune``,
  ``eval``, or ``all``);
* ``sim.raftoperator.io/fail-message``: the failure message;
* ``sim.raftoperator.io/duration-seconds``: how long each stage runs (default ``--duration``);
  ``sim.raftoperator.io/<stage>-duration-seconds`` overrides it for one stage.

Run it as ``python -m raft_sim.controllers --kubeconfig PATH`` (``--help`` lists the flags).
"""
