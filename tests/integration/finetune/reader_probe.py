"""Run in a subprocess with another transformers first on sys.path: read an exported checkpoint.

Prints one JSON object: the transformers version, the fingerprint as this version reads it, the
RoPE inverse frequencies and attention scaling the model computes, token ids and the chat
template's rendering of a few texts, and the logits on a few token ids.
Usage: python reader_probe.py MODEL_DIR FINGERPRINT_MODULE_FILE
"""

import importlib.util
import json
import sys

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

TEXTS = ["The Kalo river is blue.", "##Reason: ##begin_quote## x ##end_quote## ##Answer: red", "Ünïcödé  two  spaces"]
TOKEN_IDS = [[1, 17, 300, 42, 5, 99, 512, 7, 64, 3, 250, 11, 800, 13, 21, 1000]]


def main(model_dir: str, fingerprint_module: str) -> None:
    spec = importlib.util.spec_from_file_location("model_fingerprint", fingerprint_module)
    fingerprint = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fingerprint)
    config = AutoConfig.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    rotary = model.model.rotary_emb
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(TOKEN_IDS)).logits
    print(json.dumps({
        "transformers": transformers.__version__,
        "transformersFile": transformers.__file__,
        "fingerprint": fingerprint.describe(config, tokenizer),
        "invFreq": rotary.inv_freq.tolist(),
        "attentionScaling": float(rotary.attention_scaling),
        "tokenizerClass": type(tokenizer).__name__,
        "ids": [tokenizer(t)["input_ids"] for t in TEXTS],
        "chat": tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                              add_generation_prompt=True),
        "logits": logits.tolist(),
    }))


if __name__ == "__main__":
    main(*sys.argv[1:])
