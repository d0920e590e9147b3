"""Full fine-tuning of the student on the RAFT dataset (FSDP2), launched by torchrun.

``torchrun --nproc-per-node 2 -m raft_jobs.finetune --config run.yaml`` on one machine; in a
PyTorchJob the training operator supplies the rendezvous environment. Reads
``<root>/dataset``, writes resumable snapshots to ``<root>/checkpoints`` and the final Hugging
Face model to ``<root>/model``. Modules: ``recipe`` (setup / train / save), ``data`` (records,
chat formatting and masking, packing), ``model`` (loading and sharding), ``checkpointing``,
``export``, ``distributed``, ``metrics``.
"""
