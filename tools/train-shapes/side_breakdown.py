"""Left-or-right accuracy of an exported folder split by what tells the two shapes apart: only
their shape (same color), only their color (same shape), or both; by how far apart their
centres are (under or over 40% of the width); and by the answer. This is how stage 3's
remaining side errors were traced to same-shape pairs (README.md, stage 3d).

    OMP_NUM_THREADS=1 /usr/bin/python3 tools/train-shapes/side_breakdown.py --folder models/tiny-shapes --count 300
"""

import argparse
import os
import random
import sys
from collections import defaultdict

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import shapes_task  # noqa: E402
import train  # noqa: E402
from check_golden import load_model  # noqa: E402
from processor import Processor  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--folder", required=True)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--seed", type=int, default=4242)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.folder, torch.float32)
    model.eval()
    proc = Processor(os.path.join(args.folder, "preprocessor_config.json"))
    rng = random.Random(args.seed)
    # The sampler does not return the picture's shapes: record them as it draws.
    drawn = {}
    picture = shapes_task.picture

    def recording_picture(*a, **k):
        image, items = picture(*a, **k)
        drawn.update(items=items, width=image.width)
        return image, items

    shapes_task.picture = recording_picture
    samples, groups = [], []
    for _ in range(args.count):
        samples.append(shapes_task.sample(rng, "side"))
        a, b = drawn["items"]
        told_by = "shape only (same color)" if a[1] == b[1] else "color only (same shape)" if a[0] == b[0] else "shape and color"
        gap = abs((a[2] + a[4] / 2) - (b[2] + b[4] / 2)) / drawn["width"]
        groups.append((told_by, "centres under 40% apart" if gap < 0.4 else "centres 40% or more apart", f"answer {samples[-1]['answer']}"))
    right = []
    with torch.no_grad():
        for i in range(0, len(samples), 8):
            batch = train.collate(proc, samples[i : i + 8])
            h = model.hidden_states(batch["ids"], batch["pos"], batch["pixels"], batch["grids"])[batch["src"]]
            hits = (model.logits(h).argmax(-1) == batch["targets"]).float()
            wrong = torch.zeros(len(batch["kinds"])).index_add_(0, batch["owner"], 1 - hits)
            right += (wrong == 0).tolist()
    for axis in range(3):
        split = defaultdict(list)
        for group, ok in zip(groups, right):
            split[group[axis]].append(ok)
        for name, oks in split.items():
            print(f"{name:28s} {sum(oks):4.0f}/{len(oks):<4d} {100 * sum(oks) / len(oks):5.1f}%")
    print(f"{'all':28s} {sum(right):4.0f}/{len(right):<4d} {100 * sum(right) / len(right):5.1f}%")


if __name__ == "__main__":
    main()
