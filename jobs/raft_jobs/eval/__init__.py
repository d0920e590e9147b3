"""The eval program: score the fine-tuned student against baselines, with and without RAG.

``python -m raft_jobs.eval --config /etc/raft/run.yaml`` (``$RAFT_RUN_CONFIG`` when set).
Exit status 0 on success, 1 when the evaluation failed (an endpoint stayed down: the message
names it), 2 for an unreadable run config.

Reads ``<root>/dataset/eval.jsonl`` (or ``eval.evalFile``) and ``<root>/dataset/chunks.jsonl``;
writes under ``<root>/eval``: ``results.json``, ``answers.jsonl``, ``report.md``,
``report.html`` (self-contained), ``judge_by_topk.png``, ``refusals_precision.png``, and
``embeddings/`` (cached chunk vectors). The ``eval`` key of the progress ConfigMap gets the
compact results at the end and ``{phase, answersDone, answersTotal}`` while answering.

Modules: ``runner`` (the flow), ``clients`` (``common.llm`` pools), ``data`` (loading),
``retrieval`` (embeddings and top-k), ``prompts`` (the RAFT conversation), ``judge`` (judge
prompts and parsing), ``metrics`` (per-answer scores), ``aggregate`` (per model and mode,
improvements, summary), ``report`` and ``plots`` (the files people read).

Metric definitions (all fractions in [0, 1], shown as percentages in the reports):

* judge score: YES / (YES + NO) from the judge; unparseable replies and failed judge requests
  are counted and left out; 95% interval by a seeded percentile bootstrap over questions;
* exact match and token F1: SQuAD normalisation of the final answer (after the last
  ``<ANSWER>:``) against the reference; ROUGE-1/2/L F-measure (``rouge-score``, stemmed)
  averaged over answers; BLEU: sacrebleu corpus BLEU / 100;
* refusals: final answers that decline (the run's refusal sentence or close variants);
  precision: judge score / (1 - refusals / total), undefined (null) when all refused;
* improvement: (student - baseline) / baseline of the judge score in the same mode, null when
  the baseline scored 0.
"""
