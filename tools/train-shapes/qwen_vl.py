"""Hugging Face's Qwen2.5-VL forward pass in plain PyTorch, written from
/work/shared/reference/qwen2_5_vl_algorithms.md (sections 3 and 4):

* vision tower: patch embed (Conv3d as a matrix), 2-D rotary, window attention with
  full-attention blocks (`fullatt_block_indexes`), RMSNorm, SwiGLU MLP with biases,
  2x2 patch merger, window reorder and its inverse;
* text decoder: embedding with the vision features scattered into the pad tokens,
  get_rope_index (MRoPE positions), multimodal rotary with `mrope_section`, grouped-query
  attention with q/k/v biases, SwiGLU MLP, RMSNorm, tied or untied lm_head.

Parameter names follow the Hugging Face checkpoint (`visual.*`, `model.*`, `lm_head.weight`),
so `state_dict()` is a loadable checkpoint. Computation runs in the parameters' dtype (float32
for training, float64 for the golden check); the norms and rotary run in float32 or wider.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGE_TOKEN = 151655
VIDEO_TOKEN = 151656
VISION_START = 151652


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x32 = x.float() if dtype in (torch.float16, torch.bfloat16) else x
        y = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * y.to(dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


# ---------------------------------------------------------------------------------------------
# Segment attention: tokens attend only inside their segment of `cu` (cu_seqlens), without a
# dense N x N mask: segments are gathered into a padded [S, M] layout.


class Segments:
    def __init__(self, cu, device):
        cu = torch.as_tensor(cu, dtype=torch.long)
        lens = cu[1:] - cu[:-1]
        keep = lens > 0
        starts, lens = cu[:-1][keep], lens[keep]
        m = int(lens.max()) if len(lens) else 0
        ar = torch.arange(m)
        self.valid = (ar[None, :] < lens[:, None]).to(device)  # [S, M]
        self.index = torch.where(self.valid, starts[:, None] + ar[None, :], torch.zeros_like(ar)[None, :]).to(device)


def segment_attention(q, k, v, seg):
    """q, k, v: [N, heads, d] -> [N, heads, d], softmax(q k^T / sqrt(d)) v within each segment."""
    scale = q.shape[-1] ** -0.5
    qs, ks, vs = (t[seg.index].transpose(1, 2) for t in (q, k, v))  # [S, h, M, d]
    scores = torch.matmul(qs, ks.transpose(-1, -2)) * scale
    scores = scores.masked_fill(~seg.valid[:, None, None, :], float("-inf"))
    attn = torch.softmax(scores.float() if scores.dtype in (torch.float16, torch.bfloat16) else scores, dim=-1).to(q.dtype)
    out = torch.matmul(attn, vs).transpose(1, 2)  # [S, M, h, d]
    return out[seg.valid]


# ---------------------------------------------------------------------------------------------
# Vision tower


class VisionAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim, bias=True)

    def forward(self, x, seg, cos, sin):
        n, dim = x.shape
        q, k, v = self.qkv(x).reshape(n, 3, self.heads, dim // self.heads).unbind(1)
        dtype = q.dtype
        wide = torch.float64 if dtype == torch.float64 else torch.float32
        c, s = cos[:, None, :].to(wide), sin[:, None, :].to(wide)
        q = (q.to(wide) * c + rotate_half(q.to(wide)) * s).to(dtype)
        k = (k.to(wide) * c + rotate_half(k.to(wide)) * s).to(dtype)
        return self.proj(segment_attention(q, k, v, seg).reshape(n, dim))


class GatedMLP(nn.Module):
    def __init__(self, dim, hidden, bias):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=bias)
        self.up_proj = nn.Linear(dim, hidden, bias=bias)
        self.down_proj = nn.Linear(hidden, dim, bias=bias)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class VisionBlock(nn.Module):
    def __init__(self, dim, heads, inter):
        super().__init__()
        self.norm1 = RMSNorm(dim)
        self.norm2 = RMSNorm(dim)
        self.attn = VisionAttention(dim, heads)
        self.mlp = GatedMLP(dim, inter, bias=True)

    def forward(self, x, seg, cos, sin):
        x = x + self.attn(self.norm1(x), seg, cos, sin)
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, dim, in_ch=3, tp=2, patch=14):
        super().__init__()
        self.proj = nn.Module()
        self.proj.weight = nn.Parameter(torch.empty(dim, in_ch, tp, patch, patch))

    def forward(self, pixels):
        w = self.proj.weight
        return pixels.to(w.dtype) @ w.reshape(w.shape[0], -1).t()


class PatchMerger(nn.Module):
    def __init__(self, dim, out_dim, merge=2):
        super().__init__()
        self.unit = merge * merge
        self.ln_q = RMSNorm(dim)
        wide = dim * self.unit
        self.mlp = nn.Sequential(nn.Linear(wide, wide), nn.GELU(), nn.Linear(wide, out_dim))

    def forward(self, x):
        return self.mlp(self.ln_q(x).reshape(-1, x.shape[-1] * self.unit))


def vision_layout(grid_thw, window_size=112, patch=14, merge=2):
    """window_index, cu_window_seqlens, cu_seqlens and the (h, w) rotary positions of every patch
    row (in pixel-row order), for a list of (t, h, w) grids."""
    win = window_size // merge // patch
    unit = merge * merge
    window_index, cu_win, offset = [], [0], 0
    pos = []
    cu_full = [0]
    for t, gh, gw in grid_thw:
        lh, lw = gh // merge, gw // merge
        index = torch.arange(t * lh * lw).reshape(t, lh, lw)
        pad_h, pad_w = win - lh % win, win - lw % win
        nwh, nww = (lh + pad_h) // win, (lw + pad_w) // win
        padded = F.pad(index, (0, pad_w, 0, pad_h), value=-100)
        padded = padded.reshape(t, nwh, win, nww, win).permute(0, 1, 3, 2, 4).reshape(t, nwh * nww, win, win)
        seqlens = (padded != -100).sum([2, 3]).reshape(-1)
        flat = padded.reshape(-1)
        window_index.append(flat[flat != -100] + offset)
        cu_win.extend((torch.cumsum(seqlens, 0) * unit + cu_win[-1]).tolist())
        offset += t * lh * lw
        hpos = torch.arange(gh)[:, None].expand(gh, gw).reshape(lh, merge, lw, merge).permute(0, 2, 1, 3).reshape(-1)
        wpos = torch.arange(gw)[None, :].expand(gh, gw).reshape(lh, merge, lw, merge).permute(0, 2, 1, 3).reshape(-1)
        pos.append(torch.stack([hpos, wpos], -1).repeat(t, 1))
        for _ in range(t):
            cu_full.append(cu_full[-1] + gh * gw)
    window_index = torch.cat(window_index)
    cu_win = torch.unique_consecutive(torch.tensor(cu_win))
    return window_index, cu_win, torch.tensor(cu_full), torch.cat(pos)


class VisionTower(nn.Module):
    def __init__(self, vc):
        super().__init__()
        dim, heads = vc["hidden_size"], vc["num_heads"]
        self.heads = heads
        self.window_size = vc.get("window_size", 112)
        self.full = set(vc["fullatt_block_indexes"])
        self.patch_embed = PatchEmbed(dim)
        self.blocks = nn.ModuleList([VisionBlock(dim, heads, vc["intermediate_size"]) for _ in range(vc["depth"])])
        self.merger = PatchMerger(dim, vc["out_hidden_size"])
        rot = dim // heads // 2
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, rot, 2, dtype=torch.float32) / rot)), persistent=False)

    def forward(self, pixels, grid_thw):
        device = pixels.device
        window_index, cu_win, cu_full, pos = vision_layout(grid_thw, self.window_size)
        x = self.patch_embed(pixels)
        n, dim = x.shape
        wide = torch.float64 if x.dtype == torch.float64 else torch.float32
        inv = self.inv_freq.to(wide)
        rotary = torch.cat([pos[:, 0:1].to(wide) * inv, pos[:, 1:2].to(wide) * inv], -1)  # [N, rot]
        window_index = window_index.to(device)
        x = x.reshape(n // 4, 4, dim)[window_index].reshape(n, dim)
        rotary = rotary.reshape(n // 4, 4, -1)[window_index.cpu()].reshape(n, -1).to(device)
        emb = torch.cat([rotary, rotary], -1)
        cos, sin = emb.cos(), emb.sin()
        seg_win, seg_full = Segments(cu_win, device), Segments(cu_full, device)
        for i, block in enumerate(self.blocks):
            x = block(x, seg_full if i in self.full else seg_win, cos, sin)
        out = self.merger(x)
        return out[torch.argsort(window_index)]


# ---------------------------------------------------------------------------------------------
# Text decoder


def rope_index(ids, image_grids, video_grids, second_per_grid, tokens_per_second=2, merge=2):
    """get_rope_index for one unpadded sequence: ids list -> LongTensor [3, L] and delta."""
    ids = list(ids)
    n = len(ids)
    pieces = []
    st = 0
    imgs, vids = list(image_grids), list(video_grids)
    spgs = list(second_per_grid)
    ii = vi = 0
    count = sum(1 for i in range(n - 1) if ids[i] == VISION_START and ids[i + 1] in (IMAGE_TOKEN, VIDEO_TOKEN))

    def nxt():
        return int(max(p.max() for p in pieces)) + 1 if pieces else 0

    for _ in range(count):
        ed_img = ids.index(IMAGE_TOKEN, st) if ii < len(imgs) and IMAGE_TOKEN in ids[st:] else n + 1
        ed_vid = ids.index(VIDEO_TOKEN, st) if vi < len(vids) and VIDEO_TOKEN in ids[st:] else n + 1
        if ed_img < ed_vid:
            (t, h, w), spg, ed = imgs[ii], 0.0, ed_img
            ii += 1
        else:
            (t, h, w), ed = vids[vi], ed_vid
            spg = spgs[vi] if vi < len(spgs) else 1.0
            vi += 1
        lt, lh, lw = t, h // merge, w // merge
        text_len = ed - st
        st_idx = nxt()
        pieces.append(torch.arange(text_len).expand(3, -1) + st_idx)
        tt = torch.arange(lt)[:, None].expand(lt, lh * lw).reshape(-1)
        tt = torch.floor(tt.double() * spg * tokens_per_second).long()
        hh = torch.arange(lh)[None, :, None].expand(lt, lh, lw).reshape(-1)
        ww = torch.arange(lw)[None, None, :].expand(lt, lh, lw).reshape(-1)
        pieces.append(torch.stack([tt, hh, ww]) + text_len + st_idx)
        st = ed + lt * lh * lw
    if st < n:
        pieces.append(torch.arange(n - st).expand(3, -1) + nxt())
    pos = torch.cat(pieces, 1)
    return pos, int(pos.max()) + 1 - n


class TextAttention(nn.Module):
    def __init__(self, hidden, heads, kv_heads, head_dim):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.q_proj = nn.Linear(hidden, heads * head_dim, bias=True)
        self.k_proj = nn.Linear(hidden, kv_heads * head_dim, bias=True)
        self.v_proj = nn.Linear(hidden, kv_heads * head_dim, bias=True)
        self.o_proj = nn.Linear(heads * head_dim, hidden, bias=False)

    def forward(self, x, cos, sin, mask):
        b, l, _ = x.shape
        q = self.q_proj(x).reshape(b, l, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).reshape(b, l, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).reshape(b, l, self.kv_heads, self.head_dim).transpose(1, 2)
        c, s = cos[:, None], sin[:, None]
        q = q * c + rotate_half(q) * s
        k = k * c + rotate_half(k) * s
        rep = self.heads // self.kv_heads
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.head_dim**-0.5 + mask
        attn = torch.softmax(scores, dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(b, l, -1)
        return self.o_proj(out)


class DecoderLayer(nn.Module):
    def __init__(self, c, head_dim):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = TextAttention(c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], head_dim)
        self.mlp = GatedMLP(c["hidden_size"], c["intermediate_size"], bias=False)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class TextModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.head_dim = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([DecoderLayer(c, self.head_dim) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class QwenVL(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.visual = VisionTower(config["vision_config"])
        self.model = TextModel(config)
        self.tied = bool(config.get("tie_word_embeddings", False))
        if not self.tied:
            self.lm_head = nn.Linear(config["hidden_size"], config["vocab_size"], bias=False)
        hd = self.model.head_dim
        self.section = config["rope_scaling"]["mrope_section"]
        assert sum(self.section) * 2 == hd
        self.register_buffer(
            "inv_freq", 1.0 / (config["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd)), persistent=False
        )

    def lm_weight(self):
        return self.model.embed_tokens.weight if self.tied else self.lm_head.weight

    def rotary(self, positions, dtype):
        """positions [3, B, L] -> cos, sin [B, L, head_dim]."""
        wide = torch.float64 if dtype == torch.float64 else torch.float32
        freqs = positions.to(wide)[..., None] * self.inv_freq.to(wide)  # [3, B, L, hd/2]
        s0, s1, _ = self.section
        f = torch.cat([freqs[0, ..., :s0], freqs[1, ..., s0 : s0 + s1], freqs[2, ..., s0 + s1 :]], -1)
        emb = torch.cat([f, f], -1)
        return emb.cos().to(dtype), emb.sin().to(dtype)

    def hidden_states(self, input_ids, positions, pixels=None, grids=None):
        """input_ids [B, L] (right-padded), positions [3, B, L]; pixels/grids: every image and video
        of the batch in order of appearance. Returns the final-normed hidden states [B, L, H]."""
        x = self.model.embed_tokens(input_ids)
        if pixels is not None and len(grids):
            feats = self.visual(pixels, grids).to(x.dtype)
            is_vis = (input_ids == IMAGE_TOKEN) | (input_ids == VIDEO_TOKEN)
            assert int(is_vis.sum()) == feats.shape[0], (int(is_vis.sum()), feats.shape)
            x = x.masked_scatter(is_vis[..., None], feats)
        b, l, _ = x.shape
        cos, sin = self.rotary(positions, x.dtype)
        mask = torch.full((l, l), float("-inf"), dtype=x.dtype, device=x.device).triu(1)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        return self.model.norm(x)

    def logits(self, hidden):
        return hidden @ self.lm_weight().t()


def init_weights(model, std=0.02, seed=0):
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if name.endswith("norm.weight") or ".norm1." in name or ".norm2." in name or "ln_q" in name or "layernorm" in name:
            nn.init.ones_(p)
        elif name.endswith(".bias"):
            nn.init.zeros_(p)
        else:
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * std)
    # residual projections start small (GPT-2 style)
    depth = len(model.model.layers) + len(model.visual.blocks)
    for name, p in model.named_parameters():
        if name.endswith("o_proj.weight") or name.endswith("down_proj.weight") or name.endswith("attn.proj.weight"):
            with torch.no_grad():
                p.mul_(1 / math.sqrt(2 * depth))
