"""Image file -> pixel_values with Pillow and NumPy, timed, for `pnpm bench preprocess`.

The steps of Hugging Face's slow Qwen2VLImageProcessor (use_fast=False) for one image:
PIL decode and convert('RGB'), smart_resize, PIL bicubic resize on uint8, rescale in
float64 cast to float32, normalize in float32, channels first, the frame repeated to
temporal_patch_size, then the patch reshape/transpose. Written out with the checkpoint's
defaults instead of importing transformers, so only Pillow and NumPy are needed.

Usage: python3 pillow_preprocess.py IMAGE WARMUP RUNS HELD OUT.npy
Each result is kept until HELD newer ones exist, as the Node benchmark keeps its own.
Prints one JSON line with the median wall and CPU times in ms, the median minor page
faults and the versions; writes the
last pixel_values to OUT.npy so the benchmark can check they equal its own.
"""

import json
import math
import resource
import statistics
import sys
import time

import numpy as np
import PIL
from PIL import Image

PATCH, MERGE, TEMPORAL = 14, 2, 2
FACTOR = PATCH * MERGE
MIN_PIXELS, MAX_PIXELS = 56 * 56, 28 * 28 * 16384
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def smart_resize(height, width):
    h = max(FACTOR, round(height / FACTOR) * FACTOR)
    w = max(FACTOR, round(width / FACTOR) * FACTOR)
    if h * w > MAX_PIXELS:
        beta = math.sqrt(height * width / MAX_PIXELS)
        h = math.floor(height / beta / FACTOR) * FACTOR
        w = math.floor(width / beta / FACTOR) * FACTOR
    elif h * w < MIN_PIXELS:
        beta = math.sqrt(MIN_PIXELS / (height * width))
        h = math.ceil(height * beta / FACTOR) * FACTOR
        w = math.ceil(width * beta / FACTOR) * FACTOR
    return h, w


def pixel_values(path):
    image = Image.open(path).convert("RGB")
    height, width = smart_resize(image.height, image.width)
    pixels = np.array(image.resize((width, height), Image.BICUBIC))
    pixels = (pixels.astype(np.float64) * (1 / 255)).astype(np.float32)
    pixels = ((pixels - MEAN) / STD).transpose(2, 0, 1)
    frames = np.tile(pixels[None], (TEMPORAL, 1, 1, 1))
    gh, gw = height // PATCH, width // PATCH
    patches = frames.reshape(1, TEMPORAL, 3, gh // MERGE, MERGE, PATCH, gw // MERGE, MERGE, PATCH)
    patches = patches.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return patches.reshape(gh * gw, 3 * TEMPORAL * PATCH * PATCH)


def main():
    path, warmup, runs, held_count, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    held, wall, cpu, faults = [], [], [], []
    for i in range(warmup + runs):
        faults_start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        cpu_start, start = time.process_time(), time.perf_counter()
        result = pixel_values(path)
        elapsed, cpu_used = time.perf_counter() - start, time.process_time() - cpu_start
        held = (held + [result])[-held_count:] if held_count > 0 else []
        if i >= warmup:
            wall.append(elapsed * 1000)
            cpu.append(cpu_used * 1000)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_start)
    np.save(out, result)
    print(json.dumps({"wallMs": statistics.median(wall), "cpuMs": statistics.median(cpu), "pageFaults": statistics.median(faults), "pillow": PIL.__version__, "numpy": np.__version__}))


if __name__ == "__main__":
    main()
