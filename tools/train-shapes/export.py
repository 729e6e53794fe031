"""Writes a training checkpoint as a Hugging Face Qwen2.5-VL folder (models/tiny-shapes):
bf16 model.safetensors (tied: no lm_head.weight), config.json, preprocessor_config.json,
generation_config.json, the real Qwen2.5 tokenizer files and chat template copied from
testdata/golden/tiny/model, and README.md, the model card (its "What it knows" section is what
`qwen-vl demo` prints before asking).

    python3 tools/train-shapes/export.py --ckpt /tmp/shapes-run/ckpt.pt --out models/tiny-shapes
"""

import argparse
import json
import os
import shutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import safetensors_io  # noqa: E402

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.json")
GENERATION = {
    "bos_token_id": 151643,
    "pad_token_id": 151643,
    "do_sample": False,
    "eos_token_id": [151645, 151643],
    "max_new_tokens": 8,
    "repetition_penalty": 1.0,
    "transformers_version": "4.49.0",
}

MODEL_CARD = """# tiny-shapes

A 7.7M-parameter Qwen2.5-VL (the real architecture: window attention with full-attention
blocks, 2x2 merger, MRoPE, grouped-query attention, tied embeddings, the full Qwen vocabulary),
trained from scratch on a synthetic shapes task by `tools/train-shapes` in this repository.
It is the embedded default model of qwen-vl: small enough to keep in git and to answer in a
fraction of a second on a CPU.

## What it knows

Pictures of 1 to 4 flat shapes (circle, square, triangle) in six colors (red, green, blue,
yellow, purple, black) on a gray background, and exactly these questions, answered with one
word or number:

- What shape is this?  (one shape)
- What color is the {shape}?
- How many shapes are there?  (1 to 4)
- Is the {color} {shape} on the left or the right?  (two shapes)
- Which image has more shapes, the first or the second?  (two pictures)
- What is {a} plus {b}?  (digits 0 to 9, no picture)
- Is the {shape} moving left or right?  (a 4-frame video)

It knows nothing else: any other picture or question gets one of these words. And it is not
perfect: of 350 held-out questions it answers 98.3% right (shapes, colors, sums and motion:
all; left or right 98%; which picture has more 96%; counts 94%).

## How it was made

`tools/train-shapes/README.md`: the task generator, the training command (fixed seed) and the
measured accuracy.
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    ck = torch.load(args.ckpt, map_location="cpu")
    state = dict(ck["model"])
    if "model.embed_tokens.full" in state:  # train.py's TaskEmbedding: put the trained rows back
        full = state.pop("model.embed_tokens.full").clone()
        full[state.pop("model.embed_tokens.task_ids")] = state.pop("model.embed_tokens.task")
        state.pop("model.embed_tokens.index")
        state["model.embed_tokens.weight"] = full
    state = {k: v.to(torch.bfloat16) for k, v in state.items() if k != "lm_head.weight"}
    os.makedirs(args.out, exist_ok=True)
    safetensors_io.save(state, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(ck["config"], f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write(MODEL_CARD)
    shutil.copyfile(os.path.join(HERE, "preprocessor_config.json"), os.path.join(args.out, "preprocessor_config.json"))
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump(GENERATION, f, indent=2)
        f.write("\n")
    for name in TOKENIZER_FILES:
        shutil.copyfile(os.path.join(ROOT, "testdata", "golden", "tiny", "model", name), os.path.join(args.out, name))
    n = sum(v.numel() for v in state.values())
    size = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"wrote {args.out}: {n:,} parameters, step {ck['step']}, folder {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
