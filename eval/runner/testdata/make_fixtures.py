#!/usr/bin/python3
"""Generate the test fixtures of package eval/runner.

Builds small random llama-architecture models in plain torch (no
transformers), writes each as a Hugging Face model directory (config.json,
byte-level BPE tokenizer.json, tokenizer_config.json and safetensors written
by hand) under testdata/<variant>/, and writes testdata/<variant>/fixture.json
with, for a few prompts, the token ids, the float32 logits of every position
(base64 of little-endian float32, row-major [positions, vocab]), the
log-likelihood of a continuation (float64 log-softmax of the float32 logits)
and the greedy continuation of 10 tokens.

The reference forward pass follows the Hugging Face llama semantics in
float32: RMSNorm x * rsqrt(mean(x^2) + eps) * w, rotary embeddings in the
"rotate_half" convention, causal softmax(q.k / sqrt(head_dim)) attention with
grouped key/value heads, SwiGLU mlp down(silu(gate(x)) * up(x)), final norm
and lm_head.

Run from anywhere with /usr/bin/python3 (torch 1.13); it is deterministic.
It is not run by CI: its outputs are committed.
"""
import base64
import json
import math
import os
import re
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def bytes_to_unicode():
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1))
          + list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()

# GPT-2 pre-tokenizer for ASCII-ish text (python re has no \p{L}).
GPT2_SPLIT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")


class Tokenizer:
    def __init__(self, merges, bos=None):
        self.vocab = {B2U[b]: b for b in range(256)}
        self.ranks = {}
        for i, (a, b) in enumerate(merges):
            self.ranks[(a, b)] = i
            if a + b not in self.vocab:
                self.vocab[a + b] = len(self.vocab)
        self.merges = merges
        self.bos = bos  # (content, id) or None
        self.n = len(self.vocab) + (1 if bos else 0)

    def bpe(self, word):
        syms = list(word)
        while len(syms) > 1:
            best = None
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, syms[i], syms[i + 1])
            if best is None:
                break
            _, a, b = best
            out = []
            i = 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            syms = out
        return syms

    def encode(self, text, add_bos=True):
        ids = [self.bos[1]] if (add_bos and self.bos) else []
        chunks = GPT2_SPLIT.findall(text) if self.merges else [text]
        for ch in chunks:
            word = "".join(B2U[b] for b in ch.encode("utf-8"))
            ids += [self.vocab[s] for s in self.bpe(word)]
        return ids

    def json(self):
        added = []
        if self.bos:
            added.append({"id": self.bos[1], "content": self.bos[0], "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True})
        return {
            "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                      "vocab": self.vocab, "merges": [a + " " + b for a, b in self.merges]},
        }


# ---------------------------------------------------------------- reference


def rms_norm(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(c, W, ids):
    """Float32 logits [T, vocab] of the token ids (a list)."""
    T = len(ids)
    H, nh, nkv, hd = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    eps = c["rms_norm_eps"]
    inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    t = torch.arange(T, dtype=torch.int64).float()
    emb = torch.cat((torch.outer(t, inv_freq),) * 2, dim=-1)
    cos, sin = emb.cos(), emb.sin()  # [T, hd]
    x = W["model.embed_tokens.weight"][torch.tensor(ids)]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for l in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % l
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = (h @ W[p + "self_attn.q_proj.weight"].T).view(T, nh, hd).transpose(0, 1)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).view(T, nkv, hd).transpose(0, 1)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).view(T, nkv, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = nh // nkv
        k = k.repeat_interleave(rep, dim=0)
        v = v.repeat_interleave(rep, dim=0)
        s = (q @ k.transpose(1, 2)) / math.sqrt(hd) + mask
        a = torch.softmax(s, dim=-1) @ v  # [nh, T, hd]
        a = a.transpose(0, 1).reshape(T, nh * hd)
        x = x + a @ W[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = h @ W[p + "mlp.gate_proj.weight"].T
        u = h @ W[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ W[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    return x @ head.T


# ---------------------------------------------------------------- writing

DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2)}


def tensor_bytes(t, dtype):
    t = t.to(DTYPES[dtype][0]).contiguous()
    if dtype == "BF16":
        # numpy has no bfloat16: reinterpret as int16.
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors, dtype):
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    off = 0
    for name, t in tensors:
        b = tensor_bytes(t, dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def make_weights(c, gen, tied):
    H, I, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    nh, nkv, hd = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]

    def lin(o, i):
        return torch.randn(o, i, generator=gen) / math.sqrt(i)

    def norm(n):
        return 1 + 0.2 * torch.randn(n, generator=gen)

    W = [("model.embed_tokens.weight", torch.randn(V, H, generator=gen))]
    for l in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % l
        W += [
            (p + "input_layernorm.weight", norm(H)),
            (p + "self_attn.q_proj.weight", lin(nh * hd, H) * 2),
            (p + "self_attn.k_proj.weight", lin(nkv * hd, H) * 2),
            (p + "self_attn.v_proj.weight", lin(nkv * hd, H)),
            (p + "self_attn.o_proj.weight", lin(H, nh * hd)),
            (p + "post_attention_layernorm.weight", norm(H)),
            (p + "mlp.gate_proj.weight", lin(I, H)),
            (p + "mlp.up_proj.weight", lin(I, H)),
            (p + "mlp.down_proj.weight", lin(H, I)),
        ]
    W.append(("model.norm.weight", norm(H)))
    if not tied:
        W.append(("lm_head.weight", lin(V, H) * 4))
    return W


VARIANTS = [
    # name, dtype, tied, shards, merges, bos, config
    ("f32_mha", "F32", False, 1, [], False,
     dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
          num_key_value_heads=4, vocab_size=256, rms_norm_eps=1e-5, rope_theta=10000.0,
          max_position_embeddings=64)),
    ("bf16_untied", "BF16", False, 1, [], False,
     dict(hidden_size=32, intermediate_size=80, num_hidden_layers=2, num_attention_heads=4,
          num_key_value_heads=4, head_dim=16, vocab_size=256, rms_norm_eps=1e-6, rope_theta=500000.0,
          max_position_embeddings=48)),
    ("f32_tied_gqa", "F32", True, 1, [], False,
     dict(hidden_size=48, intermediate_size=96, num_hidden_layers=3, num_attention_heads=6,
          num_key_value_heads=2, vocab_size=256, rms_norm_eps=1e-5, max_position_embeddings=64)),
    ("f16_sharded_bpe", "F16", False, 2,
     [("t", "h"), ("Ġ", "t"), ("e", "r"), ("th", "e"), ("Ġt", "he"), ("o", "n")], True,
     dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
          num_key_value_heads=2, vocab_size=264, rms_norm_eps=1e-5, rope_theta=10000.0,
          max_position_embeddings=64)),
]

PROMPTS = [
    ("rev abc=", "cba\n"),
    ("the other one", " then"),
    ("Hello, world!\n12+3=", "15"),
]


def b64(t):
    return base64.b64encode(t.contiguous().numpy().astype("<f4").tobytes()).decode()


def main():
    torch.set_num_threads(1)
    for idx, (name, dtype, tied, shards, merges, bos, cfg) in enumerate(VARIANTS):
        gen = torch.Generator().manual_seed(1000 + idx)
        c = dict(cfg)
        c.setdefault("num_key_value_heads", c["num_attention_heads"])
        c.setdefault("head_dim", c["hidden_size"] // c["num_attention_heads"])
        c.setdefault("rope_theta", 10000.0)
        tok = Tokenizer(merges, ("<s>", 263) if bos else None)
        # Ids must fit the embedding; f16_sharded_bpe leaves id 262 unused.
        assert max(list(tok.vocab.values()) + [263 if bos else 0]) < c["vocab_size"]
        named = make_weights(c, gen, tied)
        # What the reader sees: weights rounded to the file's dtype.
        W = {n: t.to(DTYPES[dtype][0]).float() for n, t in named}

        d = os.path.join(HERE, name)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        config = {
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_act": "silu", "attention_bias": False, "mlp_bias": False,
            "tie_word_embeddings": tied, "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype],
            "bos_token_id": 263 if bos else None, "eos_token_id": None,
        }
        config.update(cfg)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        with open(os.path.join(d, "tokenizer.json"), "w") as f:
            json.dump(tok.json(), f, ensure_ascii=False)
        tc = {"add_bos_token": bos, "add_eos_token": False, "model_max_length": c["max_position_embeddings"],
              "tokenizer_class": "PreTrainedTokenizerFast"}
        if bos:
            tc["bos_token"] = "<s>"
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump(tc, f, indent=2)
        if shards == 1:
            write_safetensors(os.path.join(d, "model.safetensors"), named, dtype)
        else:
            per = (len(named) + shards - 1) // shards
            wmap = {}
            total = 0
            for s in range(shards):
                fn = "model-%05d-of-%05d.safetensors" % (s + 1, shards)
                part = named[s * per:(s + 1) * per]
                write_safetensors(os.path.join(d, fn), part, dtype)
                for n, t in part:
                    wmap[n] = fn
                    total += t.numel() * DTYPES[dtype][1]
            with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {"total_size": total}, "weight_map": wmap}, f, indent=2)

        cases = []
        with torch.no_grad():
            for prompt, cont in PROMPTS:
                pids = tok.encode(prompt)
                cids = tok.encode(cont, add_bos=False)
                logits = forward(c, W, pids + cids)
                lp = logits.double().log_softmax(-1)
                ll = sum(lp[len(pids) - 1 + i, t].item() for i, t in enumerate(cids))
                # Greedy, full recompute each step; demand a clear margin so
                # float32 rounding differences cannot flip the argmax.
                ids = list(pids)
                for _ in range(10):
                    last = forward(c, W, ids)[-1]
                    top = torch.topk(last, 2).values
                    assert top[0] - top[1] > 1e-3, (name, prompt, top)
                    ids.append(int(torch.argmax(last)))
                cases.append({
                    "prompt": prompt, "continuation": cont,
                    "prompt_ids": pids, "continuation_ids": cids,
                    "logits_shape": list(logits.shape), "logits_f32le_b64": b64(logits),
                    "loglik": ll, "greedy_ids": ids[len(pids):],
                })
        params = sum(t.numel() for _, t in named)
        with open(os.path.join(d, "fixture.json"), "w") as f:
            json.dump({"variant": name, "params": params, "cases": cases}, f, indent=1)
        print(name, dtype, "params", params)


if __name__ == "__main__":
    main()
