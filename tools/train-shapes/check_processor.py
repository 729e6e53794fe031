"""Checks processor.py (this trainer's Python processor, chat layout and rope index) against
this project's own TypeScript input pipeline on generated shapes questions of every kind:
token ids, grids and position ids exactly equal, pixel values within 1e-5.

    pnpm build && python3 tools/train-shapes/check_processor.py
"""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import shapes_task  # noqa: E402
from processor import Processor  # noqa: E402


def main(per_kind=3, seed=123):
    tmp = tempfile.mkdtemp(prefix="shapes-check-")
    model = os.path.join(tmp, "model")
    os.makedirs(model)
    for name in ("config.json", "preprocessor_config.json"):
        shutil.copyfile(os.path.join(HERE, name), os.path.join(model, name))
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.json"):
        shutil.copyfile(os.path.join(ROOT, "testdata", "golden", "tiny", "model", name), os.path.join(model, name))
    proc = Processor(os.path.join(HERE, "preprocessor_config.json"))
    rng = random.Random(seed)
    cases, samples = [], {}
    for kind in shapes_task.KINDS:
        for i in range(per_kind):
            s = shapes_task.sample(rng, kind)
            name = f"{kind}{i}"
            images = []
            for j, im in enumerate(s["images"]):
                im.save(os.path.join(tmp, f"{name}_{j}.png"))
                images.append(f"{name}_{j}.png")
            videos = []
            if s["video"]:
                frames = []
                for j, im in enumerate(s["video"]):
                    im.save(os.path.join(tmp, f"{name}_f{j}.png"))
                    frames.append(f"{name}_f{j}.png")
                videos.append(frames)
            cases.append(dict(name=name, images=images, videos=videos, question=s["question"]))
            samples[name] = s
    with open(os.path.join(tmp, "cases.json"), "w") as f:
        json.dump(cases, f)
    subprocess.run(["node", os.path.join(HERE, "prepare_cases.mjs"), model, tmp], check=True)
    worst = 0.0
    for c in cases:
        s = samples[c["name"]]
        mine = proc.encode(s["images"], [s["video"]] if s["video"] else [], s["question"])
        with open(os.path.join(tmp, c["name"] + ".json")) as f:
            ref = json.load(f)
        assert mine["ids"] == ref["ids"], c["name"] + ": token ids differ"
        assert [list(g) for g in mine["grids"]] == ref["grids"], c["name"] + f": grids {mine['grids']} vs {ref['grids']}"
        assert mine["positions"].reshape(-1).tolist() == ref["positions"], c["name"] + ": position ids differ"
        assert mine["delta"] == ref["delta"], c["name"] + ": rope delta differs"
        ref_pixels = np.fromfile(os.path.join(tmp, c["name"] + ".f32"), dtype=np.float32)
        if mine["pixels"] is None:
            assert ref_pixels.size == 0
            continue
        d = float(np.abs(mine["pixels"].reshape(-1) - ref_pixels).max())
        worst = max(worst, d)
        print(f"{c['name']:10s} grids {mine['grids']} tokens {len(mine['ids'])} pixel max |d| {d:.1e}")
    shutil.rmtree(tmp)
    assert worst <= 1e-5, worst
    print(f"OK: {len(cases)} cases, ids/grids/positions equal, pixel values max |d| {worst:.1e}")


if __name__ == "__main__":
    main()
