"""The eval report shows the student's training loss trend from the export record."""

from __future__ import annotations

from raft_jobs.eval.report import _context_lines


def test_context_shows_the_training_loss_trend():
    meta = {"questions": 4, "evalSource": "held-out", "models": [], "createdAt": "now", "durationSeconds": 3.0,
            "judgeModel": "j",
            "trainingLoss": [[1, 2.5], [2, 2.1], [3, 1.7]]}
    lines = _context_lines({"meta": meta, "summary": {}, "results": []})
    assert "Student training loss: 2.5000 at step 1 → 1.7000 at step 3" in lines
    meta.pop("trainingLoss")
    assert not any("training loss" in line for line in _context_lines({"meta": meta, "summary": {}, "results": []}))
