"""The eval program: score the fine-tuned student against baselines, with and without RAG.

``python -m raft_jobs.eval --config /etc/raft/run.yaml``.
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

Metric definitions (all fractions in [0, 1], shown as percentages in the reports; the full
account is docs/evaluation.md):

* every model gets the same prompt (``raft_jobs.common.conversation``) asking for a final
  ``<ANSWER>:`` line; scores use the text after it (the last line without it);
  ``formatFollowed``: replies that ended in the tag;
* judge score: YES / all answers (unparseable replies and failed judge requests count as not
  correct); withheld, with the reason, when fewer than 90% of the verdicts were readable
  (``judgeCoverage``); the judge is asked through vLLM structured outputs (YES or NO) where
  the server allows it; 95% interval by a seeded bootstrap over source chunks;
* exact match and token F1: SQuAD normalisation of the final answer against the reference;
  ROUGE-1/2/L F-measure (``rouge-score``, stemmed) averaged over answers; BLEU: sacrebleu
  corpus BLEU / 100;
* refusals: final answers that decline; precision: judged correct among the answers that are
  not refusals, undefined (null) when all refused;
* headline: the student in ``eval.primaryMode`` (RAG at the first top k by default), with a
  paired difference against each baseline (bootstrap interval over chunks, paired
  randomisation test); improvement: (student - baseline) / baseline of the judge score in
  the same mode, null when the baseline scored 0.
"""
