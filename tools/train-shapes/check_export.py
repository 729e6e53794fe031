"""Checks an exported folder end to end: builds it with `qwen-vl build`, asks one generated
question of every kind with `qwen-vl run --dump` (ONNX on onnxruntime-node), and compares the
prefill logits with this trainer's PyTorch forward of the same folder (float64).

    pnpm build && nice -n 19 /usr/bin/python3 tools/train-shapes/check_export.py models/tiny-shapes
"""

import os
import random
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import shapes_task  # noqa: E402
from check_golden import load_model  # noqa: E402
from processor import Processor  # noqa: E402

CLI = os.path.join(ROOT, "packages", "node", "dist", "cli", "main.js")


def main(folder, seed=5, tol=1e-3):
    torch.set_num_threads(1)
    tmp = tempfile.mkdtemp(prefix="shapes-export-check-")
    built = os.path.join(tmp, "built")
    subprocess.run(["node", CLI, "build", "--input", folder, "--output", built], check=True, stdout=subprocess.DEVNULL)
    model = load_model(folder, torch.float64)
    proc = Processor(os.path.join(folder, "preprocessor_config.json"))
    rng = random.Random(seed)
    worst = 0.0
    for kind in shapes_task.KINDS:
        s = shapes_task.sample(rng, kind)
        args = ["node", CLI, "run", "--model", built, "--prompt", s["question"], "--greedy", "--max-new-tokens", "1", "--ignore-eos", "--json"]
        for j, im in enumerate(s["images"]):
            path = os.path.join(tmp, f"{kind}{j}.png")
            im.save(path)
            args += ["--image", path]
        if s["video"]:
            paths = []
            for j, im in enumerate(s["video"]):
                paths.append(os.path.join(tmp, f"{kind}_f{j}.png"))
                im.save(paths[-1])
            args += ["--video", ",".join(paths), "--fps", "2"]
        dump = os.path.join(tmp, f"dump-{kind}")
        subprocess.run(args + ["--dump", dump], check=True, stdout=subprocess.DEVNULL)
        ref = np.load(os.path.join(dump, "logits.npy"))[0]
        e = proc.encode(s["images"], [s["video"]] if s["video"] else [], s["question"])
        pixels = torch.from_numpy(e["pixels"]).double() if e["pixels"] is not None else None
        with torch.no_grad():
            h = model.hidden_states(torch.tensor([e["ids"]]), e["positions"][:, None], pixels, e["grids"])
            mine = model.logits(h[0, -1]).numpy()
        d = float(np.abs(mine - ref).max())
        worst = max(worst, d)
        print(f"{kind:8s} prefill logits max |d| {d:.1e}  argmax onnx {ref.argmax()} torch {mine.argmax()}")
    shutil.rmtree(tmp)
    print(f"worst {worst:.1e} (tolerance {tol})")
    if worst > tol:
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models", "tiny-shapes"))
