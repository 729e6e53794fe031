"""Accuracy of a training checkpoint (or an exported folder) on a held-out Python-drawn set,
per kind, with the whole vocabulary and the weights rounded to bf16 as exported. Greedy
decoding gives the expected answer exactly when, fed the expected answer, every position's
argmax is the next expected token (answer tokens, then <|im_end|>): that is what is checked.

    nice -n 19 python3 tools/train-shapes/eval_ckpt.py --ckpt /tmp/shapes-run/ckpt.pt --per-kind 20
    nice -n 19 python3 tools/train-shapes/eval_ckpt.py --folder models/tiny-shapes
"""

import argparse
import os
import random
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import shapes_task  # noqa: E402
import train  # noqa: E402
from check_golden import load_model  # noqa: E402
from processor import Processor  # noqa: E402
from qwen_vl import QwenVL  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt")
    ap.add_argument("--folder")
    ap.add_argument("--per-kind", type=int, default=20)
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.folder:
        model = load_model(args.folder, torch.float32)
        proc = Processor(os.path.join(args.folder, "preprocessor_config.json"))
    else:
        ck = torch.load(args.ckpt)
        state = dict(ck["model"])
        full = state.pop("model.embed_tokens.full").clone()
        full[state.pop("model.embed_tokens.task_ids")] = state.pop("model.embed_tokens.task")
        state.pop("model.embed_tokens.index")
        state["model.embed_tokens.weight"] = full
        model = QwenVL(ck["config"])
        model.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in state.items()})
        proc = Processor(train.PREPROCESSOR_PATH)
        print(f"checkpoint step {ck['step']}, {ck['elapsed']:.0f} s")
    model.eval()
    rng = random.Random(args.seed)
    results = {k: [] for k in shapes_task.KINDS}
    with torch.no_grad():
        for kind in shapes_task.KINDS:
            samples = [shapes_task.sample(rng, kind) for _ in range(args.per_kind)]
            for i in range(0, len(samples), 8):
                batch = train.collate(proc, samples[i : i + 8])
                h = model.hidden_states(batch["ids"], batch["pos"], batch["pixels"], batch["grids"])[batch["src"]]
                right = (model.logits(h).argmax(-1) == batch["targets"]).float()
                wrong = torch.zeros(len(batch["kinds"])).index_add_(0, batch["owner"], 1 - right)
                results[kind] += (wrong == 0).tolist()
    total = sum(sum(v) for v in results.values()) / sum(len(v) for v in results.values())
    for k, v in results.items():
        print(f"{k:8s} {sum(v):4.0f}/{len(v):<4d} {100 * sum(v) / len(v):5.1f}%")
    print(f"overall  {100 * total:5.1f}%")


if __name__ == "__main__":
    main()
