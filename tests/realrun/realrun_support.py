"""What the real runs of this folder share: the smallest RaftRun that crosses every seam."""

from __future__ import annotations


def manifest(run: str, training_api: str = "auto") -> dict:
    """A RaftRun at the smallest size that crosses every seam (SmolLM2-135M student, simulated teacher)."""
    return {
        "apiVersion": "raftoperator.io/v1alpha1",
        "kind": "RaftRun",
        "metadata": {"name": run},
        "spec": {
            "corpus": {"volume": {"claimName": "ci-docs"}},
            # SIMULATED teacher (a 135M teacher writes no usable RAFT records; see README); the
            # student, its servers and the judge are the real SmolLM2-135M.
            "teacher": {"vllm": {"model": "raft-sim-teacher", "image": "localhost/raft-operator/sim-teacher:local",
                                 "startupTimeoutSeconds": 300}},
            "datagen": {"workers": 1, "concurrency": 4, "chunkSize": 600, "chunkOverlap": 60, "questionsPerChunk": 1,
                        "distractors": 1, "maxTokens": 160, "evalQuestions": 2},
            "student": {"baseModel": "/data/models/SmolLM2-135M-Instruct", "gpusPerNode": 2, "contextLength": 512,
                        "gradientAccumulationSteps": 1, "learningRate": 5e-5, "precision": "fp32",
                        "activationCheckpointing": False, "trainingApi": training_api},
            "eval": {"topK": [1], "maxTokens": 24, "concurrency": 4, "baselines": {"teacher": False},
                     "embeddingModel": "/data/models/all-MiniLM-L6-v2",
                     "judge": {"url": f"http://{run}-serve-base.default.svc:8000/v1",
                               "model": "/data/models/SmolLM2-135M-Instruct"}},
            "storage": {"existingClaim": "ci-data"},
            # Built here from images/ and sim/images (hack/images/build.sh); the vLLM image is the
            # STAND-IN running transformers serve on CPU.
            "scheduling": {"images": {name: f"localhost/raft-operator/{image}:local" for name, image in
                                      [("vllm", "vllm-standin"), ("datagen", "datagen"), ("trainer", "trainer"),
                                       ("eval", "eval")]}},
        },
    }
