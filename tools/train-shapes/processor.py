"""The Qwen2.5-VL processor in Python, as this project's @qwen-vl/preprocess computes it
(Hugging Face's slow PIL path): smart_resize, PIL bicubic resize on uint8, rescale and
normalize in float32, temporal padding, 2x2-block patch order; the chat template of one user
turn (images, then videos, then the text) with the pads expanded; MRoPE positions.
`check_processor.py` compares it with `qwen-vl prepare --dump`.

Token ids come from tokens.json (written by token_table.mjs with this project's tokenizer).
"""

import json
import math
import os

import numpy as np
import torch
from PIL import Image

from qwen_vl import rope_index

HERE = os.path.dirname(os.path.abspath(__file__))
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
PATCH, TP, MERGE = 14, 2, 2
IMAGE_PAD, VIDEO_PAD, V_START, V_END = 151655, 151656, 151652, 151653
IM_END = 151645

SYSTEM_USER = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
ASSISTANT = "<|im_end|>\n<|im_start|>assistant\n"


def smart_resize(h, w, factor, min_pixels, max_pixels):
    h_bar = round(h / factor) * factor  # Python round: half to even
    w_bar = round(w / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(h * w / max_pixels)
        h_bar = max(factor, math.floor(h / beta / factor) * factor)
        w_bar = max(factor, math.floor(w / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (h * w))
        h_bar = math.ceil(h * beta / factor) * factor
        w_bar = math.ceil(w * beta / factor) * factor
    return h_bar, w_bar


class Processor:
    def __init__(self, preprocessor_config, tokens_path=os.path.join(HERE, "tokens.json")):
        with open(preprocessor_config) as f:
            pc = json.load(f)
        self.min_pixels, self.max_pixels = pc["min_pixels"], pc["max_pixels"]
        with open(tokens_path) as f:
            self.tokens = json.load(f)
        levels = (np.arange(256, dtype=np.float64) * (1 / 255)).astype(np.float32)
        # table[c, v]: normalized value of level v in channel c, in float32 as HF computes it
        self.table = ((levels[None, :] - MEAN[:, None]) / STD[:, None]).astype(np.float32)

    def ids(self, text):
        return self.tokens[text]

    def visual(self, frames):
        """frames: list of PIL images (1 for an image) -> (rows float32 [N, 1176], (t, gh, gw))."""
        w0, h0 = frames[0].size
        h, w = smart_resize(h0, w0, PATCH * MERGE, self.min_pixels, self.max_pixels)
        arrays = []
        for f in frames:
            f = f.convert("RGB")
            if f.size != (w, h):
                f = f.resize((w, h), resample=Image.BICUBIC)
            a = np.asarray(f)  # H W 3 uint8
            arrays.append(np.stack([self.table[c][a[..., c]] for c in range(3)]))  # 3 H W
        while len(arrays) % TP:
            arrays.append(arrays[-1])
        x = np.stack(arrays)  # F C H W
        gt, gh, gw = len(arrays) // TP, h // PATCH, w // PATCH
        x = x.reshape(gt, TP, 3, gh // MERGE, MERGE, PATCH, gw // MERGE, MERGE, PATCH)
        x = x.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8).reshape(gt * gh * gw, 3 * TP * PATCH * PATCH)
        return np.ascontiguousarray(x), (gt, gh, gw)

    def encode(self, images, videos, question, answer=None, fps=2.0):
        """One user turn. Returns dict(ids, positions [3, L], pixels [N, 1176] or None, grids,
        answer_start) where ids include the answer and <|im_end|> when an answer is given."""
        rows, grids = [], []
        ids = list(self.ids(SYSTEM_USER))
        image_grids, video_grids = [], []
        for image in images:
            r, g = self.visual([image])
            rows.append(r)
            grids.append(g)
            image_grids.append(g)
            ids += [V_START] + [IMAGE_PAD] * (g[0] * g[1] * g[2] // 4) + [V_END]
        for video in videos:
            r, g = self.visual(video)
            rows.append(r)
            grids.append(g)
            video_grids.append(g)
            ids += [V_START] + [VIDEO_PAD] * (g[0] * g[1] * g[2] // 4) + [V_END]
        ids += self.ids(question) + self.ids(ASSISTANT)
        prompt_len = len(ids)
        if answer is not None:
            ids += self.ids(answer) + [IM_END]
        positions, delta = rope_index(ids, image_grids, video_grids, [TP / fps] * len(video_grids))
        return dict(
            ids=ids,
            positions=positions,
            pixels=np.concatenate(rows) if rows else None,
            grids=grids,
            prompt_len=prompt_len,
            delta=delta,
        )
