"""The eval program: score the fine-tuned student against baselines, with and without RAG.

Run as ``python -m raft_jobs.eval --config /etc/raft/run.yaml``; see :mod:`.runner`.
"""
