"""The sharded model round-trips to a plain Hugging Face checkpoint (tied embeddings too)."""

from __future__ import annotations

import pytest
from raft_sim import tiny_model
import torch

from raft_api.runconfig import StudentConfig
from raft_jobs.finetune.distributed import init_distributed
from raft_jobs.finetune.export import export_hf_model
from raft_jobs.finetune.model import build_model, load_tokenizer


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:DTensor random operators")
@pytest.mark.parametrize("tied", [True, False])
def test_export_matches_the_trained_model(tmp_path, world_of_one, tied: bool) -> None:
    from transformers import AutoModelForCausalLM

    base = tiny_model.build_student(tmp_path / "base", tie_word_embeddings=tied)
    info = init_distributed()
    model, shape = build_model(str(base), StudentConfig(baseModel=str(base), precision="fp32"), info)
    assert shape.layers == 2 and shape.matmul_params > 0
    original = AutoModelForCausalLM.from_pretrained(str(base)).eval()
    ids = torch.randint(0, 1000, (1, 24))
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, original(input_ids=ids).logits)
        # change the weights so the export differs from the base model
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
        model.reshard()  # the root keeps its gathered params after a forward without backward
        trained = model(input_ids=ids).logits

    dest = export_hf_model(model, load_tokenizer(str(base)), str(base), tmp_path / "model", info)
    exported = AutoModelForCausalLM.from_pretrained(str(dest)).eval()
    assert exported.config.tie_word_embeddings == tied
    with torch.no_grad():
        torch.testing.assert_close(exported(input_ids=ids).logits, trained, rtol=1e-4, atol=1e-4)
    assert (dest / "generation_config.json").is_file() and (dest / "tokenizer_config.json").is_file()
