"""An exported student reads the same with the transformers of the vLLM images as with the trainer's.

Each reader (``hack/transformers-readers.txt``; ``hack/install.sh`` puts it in the cache) runs in a
subprocess with its folder first on PYTHONPATH. It must get the trainer's config values (RoPE
base and Llama-3 scaling included), tokenizer and chat template, and the same logits. The
student server's start-up check (``raft_jobs.common.model_fingerprint``) passes on the export
and fails loudly on a checkpoint an older reader misreads.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from raft_sim import tiny_model
import torch

from raft_jobs.common import model_fingerprint
from raft_api.runconfig import StudentConfig
from raft_jobs.finetune.distributed import init_distributed
from raft_jobs.finetune.export import export_hf_model
from raft_jobs.finetune.model import build_model, load_tokenizer

ROOT = Path(__file__).resolve().parents[3]
READERS_FILE = ROOT / "hack" / "transformers-readers.txt"
PROBE = Path(__file__).with_name("reader_probe.py")
CACHE = Path(os.environ.get("RAFT_CACHE", Path.home() / ".cache" / "raft-operator"))
# Llama-3 RoPE: a non-default base and scaling, the case a misreading reader gets silently wrong.
LLAMA3_ROPE = {"rope_type": "llama3", "rope_theta": 100000.0, "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 1024}


def readers() -> list[tuple[str, str]]:
    """(vLLM image, transformers version) per line of the readers file, the default image first."""
    out = []
    for line in READERS_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            image, requirement = line.split()[:2]
            out.append((image, requirement.removeprefix("transformers==")))
    return out


def reader_path(version: str) -> Path:
    path = CACHE / f"transformers-{version}"
    if not (path / ".raft-complete").is_file():
        message = f"transformers {version} is not installed in {path}: run hack/install.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def read_with(version: str | None, model_dir: Path) -> dict:
    """What ``reader_probe.py`` prints, run with transformers ``version`` (None: the trainer's)."""
    env = dict(os.environ)
    if version:
        env["PYTHONPATH"] = os.pathsep.join([str(reader_path(version))] + [p for p in sys.path if p])
    out = subprocess.run([sys.executable, str(PROBE), str(model_dir), model_fingerprint.__file__],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_check(version: str | None, model_dir: Path) -> subprocess.CompletedProcess:
    """The student server's init container: ``python3 -c <model_fingerprint source> MODEL_DIR``."""
    env = dict(os.environ)
    if version:
        env["PYTHONPATH"] = str(reader_path(version)) + os.pathsep + env.get("PYTHONPATH", "")
    source = Path(model_fingerprint.__file__).read_text()
    return subprocess.run([sys.executable, "-c", source, str(model_dir)], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.Tensor]:
    """A trained-looking tiny Llama-3 exported by the finetune program, and its logits."""
    tmp = tmp_path_factory.mktemp("readers")
    base = tiny_model.build_student(tmp / "base", rope_parameters=LLAMA3_ROPE)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                           "MASTER_PORT": "29613", "CUDA_VISIBLE_DEVICES": ""}.items():
            mp.setenv(key, value)
        info = init_distributed()
        try:
            model, _ = build_model(str(base), StudentConfig(baseModel=str(base), precision="fp32"), info)
            ids = torch.tensor(runpy.run_path(str(PROBE))["TOKEN_IDS"])  # the probe's own tokens
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(0.01 * torch.randn_like(p))
                model.reshard()
                trained = model(input_ids=ids).logits
            dest = export_hf_model(model, load_tokenizer(str(base)), str(base), tmp / "model", info)
        finally:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
    return dest, trained


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:DTensor random operators")
@pytest.mark.parametrize("image,version", readers())
def test_reader_gets_the_trainers_model(exported, image: str, version: str) -> None:
    dest, trained = exported
    trainer = read_with(None, dest)
    torch.testing.assert_close(torch.tensor(trainer["logits"]), trained, rtol=1e-4, atol=1e-4)
    assert trainer["fingerprint"]["rope"]["rope_theta"] == 100000.0
    reader = read_with(version, dest)
    assert reader["transformers"] == version and str(reader_path(version)) in reader["transformersFile"]
    assert model_fingerprint.differences(trainer["fingerprint"], reader["fingerprint"]) == [], image
    assert reader["tokenizerClass"].startswith("PreTrainedTokenizerFast") or reader["tokenizerClass"] == trainer["tokenizerClass"]
    assert reader["ids"] == trainer["ids"] and reader["chat"] == trainer["chat"]
    torch.testing.assert_close(torch.tensor(reader["invFreq"]), torch.tensor(trainer["invFreq"]))
    assert reader["attentionScaling"] == pytest.approx(trainer["attentionScaling"])
    torch.testing.assert_close(torch.tensor(reader["logits"]), torch.tensor(trainer["logits"]), rtol=1e-4, atol=1e-4)
    check = run_check(version, dest)
    assert check.returncode == 0, check.stderr
    assert f"passed with transformers {version}" in check.stdout


@pytest.mark.slow
def test_startup_check_fails_loudly_on_a_misread_checkpoint(tmp_path: Path) -> None:
    """A transformers-5 checkpoint without the older keys: transformers 4 reads RoPE base 10000."""
    _, old = readers()[-1]
    assert old.startswith("4.")
    from transformers import AutoConfig, AutoTokenizer

    plain = tiny_model.build_student(tmp_path / "plain", rope_parameters=LLAMA3_ROPE)
    fingerprint = model_fingerprint.describe(AutoConfig.from_pretrained(plain), AutoTokenizer.from_pretrained(plain))
    (plain / model_fingerprint.FINGERPRINT_FILE).write_text(json.dumps(fingerprint))
    assert run_check(None, plain).returncode == 0
    check = run_check(old, plain)
    assert check.returncode == 1
    line = check.stderr.strip().splitlines()[-1]
    assert line.startswith(f"served model config differs from the export (this server's transformers {old})")
    assert "TokenizersBackend" in line  # the tokenizer does not even load
    # with a loadable tokenizer, the silent RoPE misreading is what it reports
    tok_config = json.loads((plain / "tokenizer_config.json").read_text())
    tok_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    (plain / "tokenizer_config.json").write_text(json.dumps(tok_config))
    line = run_check(old, plain).stderr.strip().splitlines()[-1]
    assert "rope.rope_theta: export 100000.0, served 10000.0" in line and "rope.rope_type" in line


def test_the_default_vllm_image_is_the_first_reader() -> None:
    from raft_api.spec import DEFAULT_IMAGES

    image, version = readers()[0]
    assert DEFAULT_IMAGES["vllm"] == image and version.split(".")[0] == "5"
    import transformers

    assert transformers.__version__.split(".")[0] == version.split(".")[0]  # the trainer's major
