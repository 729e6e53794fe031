"""Trains the tiny Qwen2.5-VL of models/tiny-shapes on the shapes task.

    OMP_NUM_THREADS=1 nice -n 19 /usr/bin/python3 tools/train-shapes/train.py --out /tmp/shapes-run --steps 10000 --save-every 200
    (then) python3 tools/train-shapes/export.py --ckpt /tmp/shapes-run/ckpt.pt --out models/tiny-shapes
(reproduce.sh runs every stage of the shipped recipe this way, with --procs 2.)

Fixed seed: the model's initial weights come from --seed and the training batch of step s from
random.Random(seed * 1_000_003 + s), so a run stopped and resumed (`--out` holding ckpt.pt)
continues with exactly the batches it would have seen. Loss: cross-entropy over the full
vocabulary (tied embeddings) on the answer tokens and the closing <|im_end|> only.
Writes OUT/log.tsv (step, seconds, loss, lr, then per-kind teacher-forced exact-match rate
on that batch) and OUT/ckpt.pt every --save-every steps.
"""

import argparse
import json
import math
import os
import random
import socket
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import shapes_task  # noqa: E402
from processor import Processor  # noqa: E402
from qwen_vl import QwenVL, init_weights  # noqa: E402

PAD = 151643

CONFIG_PATH = os.path.join(HERE, "config.json")
PREPROCESSOR_PATH = os.path.join(HERE, "preprocessor_config.json")

# how often each question kind is drawn for training (the eval weighs kinds equally)
KIND_WEIGHTS = {"shape": 1.5, "color": 2.0, "count": 2.0, "side": 2.0, "compare": 1.5, "sum": 1.0, "motion": 1.5}


def load_config(path=CONFIG_PATH):
    with open(path) as f:
        return json.load(f)


def draw_batch(rng, size, kind_weights=KIND_WEIGHTS):
    kinds = list(kind_weights)
    weights = [kind_weights[k] for k in kinds]
    return [shapes_task.sample(rng, rng.choices(kinds, weights)[0]) for _ in range(size)]


def collate(proc, samples):
    enc = [proc.encode(s["images"], [s["video"]] if s["video"] else [], s["question"], s["answer"]) for s in samples]
    length = max(len(e["ids"]) for e in enc)
    ids = torch.full((len(enc), length), PAD, dtype=torch.long)
    pos = torch.ones((3, len(enc), length), dtype=torch.long)
    rows, grids, src_b, src_t, targets, owner = [], [], [], [], [], []
    for b, e in enumerate(enc):
        n = len(e["ids"])
        ids[b, :n] = torch.tensor(e["ids"])
        pos[:, b, :n] = e["positions"]
        if e["pixels"] is not None:
            rows.append(e["pixels"])
            grids += e["grids"]
        for t in range(e["prompt_len"], n):
            src_b.append(b)
            src_t.append(t - 1)
            targets.append(e["ids"][t])
            owner.append(b)
    pixels = torch.from_numpy(np.concatenate(rows)) if rows else None
    return dict(
        ids=ids,
        pos=pos,
        pixels=pixels,
        grids=grids,
        src=(torch.tensor(src_b), torch.tensor(src_t)),
        targets=torch.tensor(targets),
        owner=torch.tensor(owner),
        kinds=[s["kind"] for s in samples],
    )


def picture_cost(sample, max_pixels):
    """Rough cost of a sample's vision work: the pixels its pictures are resized to."""
    frames = sample["images"] + (sample["video"] or [])
    return 1 + sum(min(f.size[0] * f.size[1], max_pixels) for f in frames) / max_pixels


def my_share(samples, rank, procs, max_pixels):
    """The samples of one batch that process `rank` of `procs` trains on: the most expensive first,
    each to the process with the least work so far (every process computes the same split)."""
    costs = [picture_cost(s, max_pixels) for s in samples]
    load, share = [0.0] * procs, []
    for i in sorted(range(len(samples)), key=lambda i: -costs[i]):
        target = min(range(procs), key=lambda r: (load[r], r))
        load[target] += costs[i]
        if target == rank:
            share.append(samples[i])
    return share


def sum_gradients(params):
    """All-reduces the gradients of every process (summed: each part's loss is already divided by
    the whole batch's answer tokens). A parameter a part did not reach (no picture in it) adds 0."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for p in params:
        p.grad = flat[offset : offset + p.numel()].view_as(p).clone()
        offset += p.numel()


class TaskEmbedding(nn.Module):
    """The tied token table, split for speed: the rows of the tokens the task uses are trained,
    every other row of the full Qwen vocabulary stays at its random initial value (those tokens
    never occur in the task). `merged()` is the whole table as exported."""

    def __init__(self, full, task_ids):
        super().__init__()
        self.register_buffer("full", full.detach().clone())
        self.register_buffer("task_ids", task_ids)
        self.task = nn.Parameter(full.detach()[task_ids].clone())
        index = torch.full((full.shape[0],), -1, dtype=torch.long)
        index[task_ids] = torch.arange(len(task_ids))
        self.register_buffer("index", index)

    def forward(self, ids):
        i = self.index[ids]
        return torch.where((i >= 0)[..., None], self.task[i.clamp(min=0)], self.full[ids])

    def merged(self):
        w = self.full.clone()
        w[self.task_ids] = self.task.detach()
        return w


def task_token_ids(proc):
    ids = {PAD, 151644, 151645, 151652, 151653, 151655, 151656}
    for v in proc.tokens.values():
        ids |= set(v)
    return torch.tensor(sorted(ids))


def forward_loss(model, batch, answer_tokens, negatives=None):
    """Cross-entropy of the answer tokens; with `negatives` (a 1-D tensor of token ids outside the
    task), the softmax runs over the task tokens plus those sampled others instead of the whole
    vocabulary (the same gradient for the task rows at a fraction of the cost). The loss is summed
    and divided by `answer_tokens`, the whole batch's, so that the parts of one batch split over
    processes add up to the whole batch's mean."""
    h = model.hidden_states(batch["ids"], batch["pos"], batch["pixels"], batch["grids"])
    h = h[batch["src"]]
    emb = model.model.embed_tokens
    if negatives is None:
        logits = h @ emb.merged().t()
        targets = batch["targets"]
    else:
        weight = torch.cat([emb.task, emb.full[negatives]])
        logits = h @ weight.t()
        targets = emb.index[batch["targets"]]
    loss = F.cross_entropy(logits, targets, reduction="sum") / answer_tokens
    right = (logits.argmax(-1) == targets).float()
    n = len(batch["kinds"])
    wrong_per_sample = torch.zeros(n).index_add_(0, batch["owner"], 1 - right)
    return loss, (wrong_per_sample == 0).tolist()


def initial_state(path, model):
    """The state dict to start from: a training checkpoint's, or an exported folder's (its bf16
    weights, the token table split as TaskEmbedding keeps it)."""
    if not os.path.isdir(path):
        return torch.load(path)["model"]
    from check_golden import load_model

    state = {k: v.float() for k, v in load_model(path, torch.float32).state_dict().items()}
    full = state.pop("model.embed_tokens.weight")
    emb = model.model.embed_tokens
    state["model.embed_tokens.full"] = full
    state["model.embed_tokens.task_ids"] = emb.task_ids
    state["model.embed_tokens.task"] = full[emb.task_ids]
    state["model.embed_tokens.index"] = emb.index
    return state


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def build_model(config, seed):
    torch.manual_seed(seed)
    model = QwenVL(config)
    init_weights(model, seed=seed)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--negatives", type=int, default=2048, help="sampled non-task tokens per step in the softmax")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--seed", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--procs", type=int, default=1, help="processes, each training on a share of every batch (data parallel)")
    ap.add_argument("--save-every", type=int, default=100)
    ap.add_argument("--config", default=CONFIG_PATH, help="the model's config.json")
    ap.add_argument("--kinds", default="", help="kind=weight,... to train on instead of the default mixture")
    ap.add_argument("--preprocessor", default=PREPROCESSOR_PATH, help="the processor's preprocessor_config.json (its pixel budget)")
    ap.add_argument("--init", default="", help="start from this checkpoint's (or exported folder's) weights, with a fresh optimizer and schedule")
    ap.add_argument("--max-seconds", type=float, default=0, help="stop (after saving) once this much time has passed")
    args = ap.parse_args()
    if args.procs > 1:
        mp.spawn(train, args=(args, free_port()), nprocs=args.procs)
    else:
        train(0, args, None)


def out_of_time(mine, shared):
    """Whether to stop now: every process stops at the same step once any one of them is over time."""
    if not shared:
        return mine
    flag = torch.tensor([float(mine)])
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train(rank, args, port):
    """One training process: rank 0 of a single process, or one of `args.procs` that split every
    batch between them and add their gradients (then take the same optimizer step, so their
    weights stay equal). Rank 0 writes the log and the checkpoint."""
    torch.set_num_threads(args.threads)
    shared = port is not None
    if shared:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=args.procs)
    main_process = rank == 0
    kind_weights = {k: float(w) for k, w in (p.split("=") for p in args.kinds.split(","))} if args.kinds else KIND_WEIGHTS
    if main_process:
        os.makedirs(args.out, exist_ok=True)
    config = load_config(args.config)
    proc = Processor(args.preprocessor)
    model = build_model(config, args.seed)
    task_ids = task_token_ids(proc)
    model.model.embed_tokens = TaskEmbedding(model.model.embed_tokens.weight, task_ids)
    if args.init and not os.path.exists(os.path.join(args.out, "ckpt.pt")):
        model.load_state_dict(initial_state(args.init, model))
        if main_process:
            print(f"weights from {args.init}", flush=True)
    others = torch.ones(config["vocab_size"], dtype=torch.bool)
    others[task_ids] = False
    others = others.nonzero()[:, 0]
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed_tokens" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed_tokens" not in n)]
    # eps 1e-10, not 1e-8: the vision tower's gradients are tiny per element (they reach it
    # through the decoder's RMSNorms), and eps 1e-8 damped its updates (a first run stalled at
    # chance for 600 steps with vision features 300x the token embeddings' scale); weight decay
    # 0.1 keeps that scale in check.
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.98), eps=1e-10
    )
    ckpt_path = os.path.join(args.out, "ckpt.pt")
    step, elapsed = 0, 0.0
    if shared:
        dist.barrier()  # the output folder exists; a checkpoint there is read by every process
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed = ck["step"], ck["elapsed"]
        if main_process:
            print(f"resumed at step {step} ({elapsed:.0f} s)", flush=True)
    params = list(model.parameters())
    if main_process:
        print(f"parameters: {sum(p.numel() for p in params):,}", flush=True)
    log = open(os.path.join(args.out, "log.tsv"), "a") if main_process else None
    logged_kinds = shapes_task.KINDS + tuple(k for k in shapes_task.TRAINING_KINDS if k in kind_weights)
    if step == 0 and main_process:
        log.write("step\tseconds\tloss\tlr\t" + "\t".join(logged_kinds) + "\n")
    model.train()
    t_start = time.time() - elapsed

    def save():
        tmp = ckpt_path + ".tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": time.time() - t_start, "config": config}, tmp)
        os.replace(tmp, ckpt_path)

    while step < args.steps:
        rng = random.Random(args.seed * 1_000_003 + step)
        samples = draw_batch(rng, args.batch, kind_weights)
        if shared:
            samples = my_share(samples, rank, args.procs, proc.max_pixels)
        batch = collate(proc, samples)
        answer_tokens = torch.tensor([float(len(batch["targets"]))])
        if shared:
            dist.all_reduce(answer_tokens)
        lr = lr_at(step, args.steps, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        negatives = others[torch.randint(len(others), (args.negatives,), generator=g)]
        loss, exact = forward_loss(model, batch, int(answer_tokens), negatives)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        kinds = batch["kinds"]
        loss = loss.detach()
        if shared:
            sum_gradients(params)
            dist.all_reduce(loss)
            parts = [None] * args.procs
            dist.all_gather_object(parts, (kinds, exact))
            kinds, exact = [k for p in parts for k in p[0]], [e for p in parts for e in p[1]]
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if main_process:
            per_kind = {k: [] for k in logged_kinds}
            for k, ok in zip(kinds, exact):
                per_kind[k].append(ok)
            cols = [f"{sum(v) / len(v):.2f}" if v else "" for v in per_kind.values()]
            log.write(f"{step}\t{time.time() - t_start:.1f}\t{loss.item():.4f}\t{lr:.2e}\t" + "\t".join(cols) + "\n")
            if step % 10 == 0:
                log.flush()
                print(f"step {step} {time.time() - t_start:.0f}s loss {loss.item():.4f} exact {sum(exact) / len(exact):.2f}", flush=True)
            if step % args.save_every == 0 or step == args.steps:
                save()
        if args.max_seconds and out_of_time(time.time() - t_start > args.max_seconds, shared):
            if main_process:
                save()
                print("time limit reached; resume with the same command", flush=True)
            break
    if main_process:
        log.close()
    if shared:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
