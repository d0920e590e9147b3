"""The datagen program: corpus → chunks → teacher questions and chain-of-thought answers → RAFT dataset.

``python -m raft_jobs.datagen --config /etc/raft/run.yaml``. See :mod:`.pipeline` for the flow
and ``docs/architecture.md`` for the files it writes under ``<root>/dataset``.
"""
