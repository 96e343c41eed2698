#!/usr/bin/python3
"""Train mergetune's tiny toy model family (not run by CI).

One base model and one full fine-tune per toy task (datasets/toy), llama
architecture, byte-level vocabulary, written as Hugging Face checkpoints in
bf16. Also writes the fixtures the Go runner's tests use (fixtures.json,
predictions.jsonl), measures accuracies and merges, and writes results.json.

Reproduce (from the repository root):

    go run ./datasets/toy/cmd/toyexport -out /tmp/toydata
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 datasets/toy/family/train.py \
        --data /tmp/toydata --out datasets/toy/family

Needs only torch (Debian's python3-torch 1.13 works) and numpy.

Recipe: the base is pretrained on every task's train split where the
answer is the correct one with probability 0.4 and the task's fixed wrong
distractor otherwise, then continued with the correct answer at 0.35, so it
has latent competence but answers wrong greedily. Each fine-tune starts from
the stored base and trains only on its task's correct answers for 150 steps
at lr 5e-4, with the embeddings and the lm_head frozen. Training uses bf16
autocast on CPU; every evaluation runs in float32 on the stored bf16
weights.
"""

import argparse
import json
import math
import os
import random
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CTX = 32
VOCAB = 256
NL = 10  # "\n" ends every answer

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 128,
    "intermediate_size": 288,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "vocab_size": VOCAB,
    "max_position_embeddings": CTX,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "hidden_act": "silu",
    "torch_dtype": "bfloat16",
    "bos_token_id": None,
    "eos_token_id": None,
}

TOKENIZER_CONFIG = {
    "add_bos_token": False,
    "add_eos_token": False,
    "model_max_length": CTX,
    "tokenizer_class": "PreTrainedTokenizerFast",
    "clean_up_tokenization_spaces": False,
}


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# ----------------------------------------------------------------- model


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, self.nh = c["hidden_size"], c["num_attention_heads"]
        self.hd = d // self.nh
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, D = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.hd)
        s = s.float().masked_fill(mask, float("-inf"))
        p = torch.softmax(s, dim=-1).to(v.dtype)
        o = torch.matmul(p, v).transpose(1, 2).reshape(B, T, D)
        return self.o_proj(o)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, m = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = nn.Linear(d, m, bias=False)
        self.up_proj = nn.Linear(d, m, bias=False)
        self.down_proj = nn.Linear(m, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.mlp = MLP(c)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Inner(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([Layer(c) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.model = Inner(c)
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        hd = c["hidden_size"] // c["num_attention_heads"]
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        fr = torch.outer(torch.arange(c["max_position_embeddings"], dtype=torch.float32), inv)
        emb = torch.cat((fr, fr), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.model.embed_tokens(ids)
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        cos, sin = self.cos[:T], self.sin[:T]
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        return self.lm_head(self.model.norm(x))


# ------------------------------------------------------------ checkpoint


def bf16_round(sd):
    """The state dict as stored: rounded to bf16, returned as float32."""
    return {k: v.detach().to(torch.bfloat16).to(torch.float32) for k, v in sd.items()}


def write_safetensors(path, sd):
    header, blobs, off = {}, [], 0
    for name in sorted(sd):
        t = sd[name].detach().to(torch.bfloat16).contiguous()
        b = t.view(torch.int16).numpy().astype("<i2").tobytes()
        header[name] = {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    import numpy as np

    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "BF16"
        a, b = e["data_offsets"]
        raw = np.frombuffer(data[a:b], dtype="<i2").copy()
        out[name] = torch.from_numpy(raw).view(torch.bfloat16).to(torch.float32).reshape(e["shape"])
    return out


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def tokenizer_json():
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    assert len(vocab) == 256
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": []},
    }


def save_checkpoint(dirpath, sd):
    os.makedirs(dirpath, exist_ok=True)
    with open(os.path.join(dirpath, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
        f.write("\n")
    with open(os.path.join(dirpath, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(), f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(os.path.join(dirpath, "tokenizer_config.json"), "w") as f:
        json.dump(TOKENIZER_CONFIG, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(dirpath, "model.safetensors"), sd)


# ------------------------------------------------------------------ data


def load_jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def encode(prompt, answer):
    """Input ids (CTX-1), labels (CTX-1) with -100 outside the answer."""
    seq = list(prompt.encode("ascii")) + list(answer.encode("ascii")) + [NL]
    assert len(seq) <= CTX, (prompt, answer)
    ids = seq[:-1] + [0] * (CTX - len(seq))
    lab = [-100] * (len(prompt) - 1) + seq[len(prompt):] + [-100] * (CTX - len(seq))
    return ids, lab


class TaskData:
    def __init__(self, name, items):
        self.name = name
        self.items = items
        ci, cl, di, dl = [], [], [], []
        for it in items:
            a, b = encode(it["prompt"], it["target"])
            c, d = encode(it["prompt"], it["distractor"])
            ci.append(a), cl.append(b), di.append(c), dl.append(d)
        self.ci, self.cl = torch.tensor(ci), torch.tensor(cl)
        self.di, self.dl = torch.tensor(di), torch.tensor(dl)

    def sample(self, g, n, p_correct):
        idx = torch.randint(len(self.items), (n,), generator=g)
        good = torch.rand(n, generator=g) < p_correct
        ids = torch.where(good[:, None], self.ci[idx], self.di[idx])
        lab = torch.where(good[:, None], self.cl[idx], self.dl[idx])
        return ids, lab


# -------------------------------------------------------------- training


def train(model, batches, steps, lr, params, warmup, final_frac, log_every, tag, stop=None):
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    t0 = time.time()
    run = 0.0
    for step in range(steps):
        if step < warmup:
            f = (step + 1) / warmup
        else:
            pr = (step - warmup) / max(1, steps - warmup)
            f = final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * pr))
        for gr in opt.param_groups:
            gr["lr"] = lr * f
        ids, lab = batches()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(ids)
        loss = F.cross_entropy(logits.float().reshape(-1, VOCAB), lab.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        run = loss.item() if step == 0 else 0.98 * run + 0.02 * loss.item()
        if log_every and (step + 1) % log_every == 0:
            log(f"{tag} step {step + 1}/{steps} loss {run:.4f} ({(time.time() - t0) / (step + 1):.3f}s/step)")
        if stop and stop(step):
            break
    return run


# ------------------------------------------------------------ evaluation


def model_from(sd):
    m = Llama(CONFIG)
    m.load_state_dict(sd)
    m.eval()
    return m


@torch.no_grad()
def greedy(model, prompts, batch=512):
    """Greedy answers in float32: generation stops at "\\n" or when the
    sequence reaches CTX tokens; the answer is the bytes before "\\n"."""
    out = [None] * len(prompts)
    groups = {}
    for i, p in enumerate(prompts):
        groups.setdefault(len(p), []).append(i)
    for L, idxs in groups.items():
        for s in range(0, len(idxs), batch):
            chunk = idxs[s:s + batch]
            ids = torch.tensor([list(prompts[i].encode("ascii")) for i in chunk])
            done = torch.zeros(len(chunk), dtype=torch.bool)
            gen = []
            while ids.shape[1] < CTX and not bool(done.all()):
                nxt = model(ids)[:, -1].argmax(-1)
                gen.append(nxt)
                done |= nxt == NL
                ids = torch.cat([ids, nxt[:, None]], dim=1)
            gen = torch.stack(gen, 1).tolist() if gen else [[] for _ in chunk]
            for j, i in enumerate(chunk):
                g = gen[j]
                if NL in g:
                    g = g[:g.index(NL)]
                out[i] = bytes(g).decode("latin-1")
    return out


@torch.no_grad()
def exact(model, items, batch=1024):
    """Greedy exact-match accuracy in one teacher-forced forward pass per
    item: greedy decoding yields target + "\\n" exactly when, given the
    prompt and the right answer so far, the argmax (ties to the lowest id,
    as in greedy) at every answer position is the next answer byte. Equal
    to accuracy(model, items)[0], about ten times faster."""
    ok = 0
    for s in range(0, len(items), batch):
        chunk = items[s:s + batch]
        ids, lab = zip(*(encode(it["prompt"], it["target"]) for it in chunk))
        ids, lab = torch.tensor(ids), torch.tensor(lab)
        pred = model(ids).argmax(-1)
        good = (pred == lab) | (lab == -100)
        ok += int(good.all(-1).sum())
    return ok / len(items)


def exact_tasks(model, by_task):
    """exact() of every task's items, in one batched pass: {task: accuracy}."""
    flat = [(t, it) for t, items in by_task.items() for it in items]
    ok = {t: 0 for t in by_task}
    with torch.no_grad():
        for s in range(0, len(flat), 1024):
            chunk = flat[s:s + 1024]
            ids, lab = zip(*(encode(it["prompt"], it["target"]) for _, it in chunk))
            ids, lab = torch.tensor(ids), torch.tensor(lab)
            good = ((model(ids).argmax(-1) == lab) | (lab == -100)).all(-1).tolist()
            for (t, _), g in zip(chunk, good):
                ok[t] += g
    return {t: ok[t] / len(items) for t, items in by_task.items()}


@torch.no_grad()
def accuracy(model, items):
    """Greedy accuracy and answers. An item that exact() finds right is
    answered with its target (what greedy decoding would produce); only the
    others are decoded."""
    ok = []
    for s in range(0, len(items), 1024):
        chunk = items[s:s + 1024]
        ids, lab = zip(*(encode(it["prompt"], it["target"]) for it in chunk))
        ids, lab = torch.tensor(ids), torch.tensor(lab)
        ok += ((model(ids).argmax(-1) == lab) | (lab == -100)).all(-1).tolist()
    wrong = [i for i, g in enumerate(ok) if not g]
    dec = greedy(model, [items[i]["prompt"] for i in wrong])
    ans = [it["target"] for it in items]
    for i, a in zip(wrong, dec):
        ans[i] = a
    return sum(a == it["target"] for a, it in zip(ans, items)) / len(items), ans


@torch.no_grad()
def fixture(model, prompt, target):
    ids = torch.tensor([list(prompt.encode("ascii"))])
    last = model(ids)[0, -1].tolist()
    seq = list(prompt.encode("ascii")) + list(target.encode("ascii")) + [NL]
    lp = torch.log_softmax(model(torch.tensor([seq[:-1]]))[0], -1)
    s = sum(lp[t - 1, seq[t]].item() for t in range(len(prompt), len(seq)))
    return {"prompt": prompt, "continuation": target + "\n", "logits": last, "logprob": s,
            "greedy": greedy(model, [prompt])[0]}


# ---------------------------------------------------------------- merges


def merge(base, fts, method, lam, density=1.0, gamma=0.0):
    """mergekit semantics (weights 1): task_arithmetic base + lam*sum(d);
    ties: magnitude top-density per task vector, sum sign consensus,
    normalize (mean of the agreeing), times lam; breadcrumbs: drop the
    int(gamma*N) largest and keep int(density*N), no consensus, no
    normalize, times lam. Computed in float32, rounded to bf16."""
    out = {}
    for name, b in base.items():
        ds = [ft[name] - b for ft in fts]
        if all(bool((d == 0).all()) for d in ds):
            out[name] = b.clone()
            continue
        if method in ("ties", "breadcrumbs"):
            kept = []
            for d in ds:
                flat = d.flatten()
                N = flat.numel()
                mask = torch.zeros(N, dtype=torch.bool)
                if method == "ties":
                    k = int(density * N)
                    mask[torch.argsort(flat.abs(), descending=True)[:k]] = True
                else:
                    target, ntop = int(density * N), int(gamma * N)
                    nbot = N - target - ntop
                    if nbot < 0:
                        ntop += nbot
                        nbot = 0
                    if ntop > 0:
                        mask[torch.argsort(flat.abs())[nbot:N - ntop]] = True
                kept.append((flat * mask).view_as(d))
            ds = kept
        D = torch.stack(ds)
        if method == "ties":
            maj = torch.where(D.sum(0) >= 0, 1.0, -1.0)
            m = torch.sign(D) == maj
            mixed = (D * m).sum(0)
            div = m.sum(0).float()
            div[div == 0] = 1
            mixed = mixed / div
        else:
            mixed = D.sum(0)
        out[name] = (b + lam * mixed).to(torch.bfloat16).to(torch.float32)
    return out


# ------------------------------------------------------------------ main


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="directory written by toyexport")
    ap.add_argument("--out", required=True, help="family directory")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pre-steps", type=int, default=3000)
    ap.add_argument("--pre-lr", type=float, default=3e-3)
    ap.add_argument("--pre-p", type=float, default=0.4)
    ap.add_argument("--cont-steps", type=int, default=600)
    ap.add_argument("--cont-lr", type=float, default=1e-3)
    ap.add_argument("--cont-p", type=float, default=0.42)
    ap.add_argument("--per-task", type=int, default=3, help="items of each task in a base batch")
    ap.add_argument("--pre-ckpt", default="", help="save the base after its first phase here; with --skip-pre, resume from it")
    ap.add_argument("--skip-pre", action="store_true", help="load the first phase from --pre-ckpt")
    ap.add_argument("--only-pre", action="store_true", help="stop after the base's first phase")
    ap.add_argument("--ft-steps", type=int, default=300, help="most steps of a fine-tune")
    ap.add_argument("--ft-lr", type=float, default=4e-4)
    ap.add_argument("--ft-stop", type=float, default=1.0,
                    help="stop a fine-tune once it reaches this exact-match accuracy on --stop-items of its train items "
                         "(checked every 5 steps; 2 = never)")
    ap.add_argument("--stop-items", type=int, default=256)
    ap.add_argument("--ft-batch", type=int, default=64)
    ap.add_argument("--skip-base", action="store_true", help="reuse the stored base")
    ap.add_argument("--skip-ft", action="store_true", help="reuse the stored fine-tunes")
    ap.add_argument("--tasks", default="", help="comma-separated subset to (re)train")
    ap.add_argument("--no-merges", action="store_true")
    ap.add_argument("--methods", default="task_arithmetic,ties,breadcrumbs",
                    help="merge methods to measure; results.json keeps earlier entries of the others")
    ap.add_argument("--ks", default="2,4,8,16,32,48", help="numbers of merged tasks")
    ap.add_argument("--subsets", type=int, default=5, help="random subsets per number of merged tasks")
    ap.add_argument("--merge-items", type=int, default=50, help="test items per task scored for the merges")
    ap.add_argument("--ta-lambdas", default="0.1,0.2,0.3,0.5,0.8")
    ap.add_argument("--ties-lambdas", default="0.7,1.5,3.0")
    ap.add_argument("--bc-lambdas", default="0.2,0.4")
    ap.add_argument("--joint-steps", type=int, default=800,
                    help="steps of the model trained jointly on every task (the ceiling); 0 skips it")
    ap.add_argument("--joint-out", default="", help="where to keep the joint model (default /tmp/joint-model)")
    ap.add_argument("--skip-joint", action="store_true", help="reuse the joint model in --joint-out")
    ap.add_argument("--seed-tasks", default="reverse,rot1,lookup,interleave",
                    help="tasks that get same-task fine-tunes from several seeds (seeds/<task>-seed<N>)")
    ap.add_argument("--seed-lrs", default="2e-4,3e-4,4e-4,5e-4", help="one learning rate per seed")
    ap.add_argument("--seed-max-steps", type=int, default=150)
    ap.add_argument("--seed-stop", type=float, default=0.8,
                    help="stop a seed run once it reaches this exact-match accuracy on --stop-items of its train items")
    ap.add_argument("--skip-seeds", action="store_true", help="reuse the stored seed fine-tunes")
    ap.add_argument("--cross", action="store_true", help="also evaluate every fine-tune on every task")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    with open(os.path.join(args.data, "tasks.json")) as f:
        infos = json.load(f)
    tasks = [t["name"] for t in infos]
    train_d = {t: TaskData(t, load_jsonl(os.path.join(args.data, t, "train.jsonl"))) for t in tasks}
    test = {t: load_jsonl(os.path.join(args.data, t, "test.jsonl")) for t in tasks}
    log(f"{len(tasks)} tasks; train items {sum(len(d.items) for d in train_d.values())}")

    base_dir = os.path.join(args.out, "base")
    base_times = {}
    if not args.skip_base:
        g = torch.Generator().manual_seed(args.seed)
        model = Llama(CONFIG)
        log(f"parameters: {sum(p.numel() for p in model.parameters())}")

        def mixed(p):
            def f():
                parts = [train_d[t].sample(g, args.per_task, p) for t in tasks]
                return torch.cat([a for a, _ in parts]), torch.cat([b for _, b in parts])
            return f

        params = list(model.parameters())
        model.train()
        t0 = time.time()
        if args.skip_pre:
            model.load_state_dict(torch.load(args.pre_ckpt))
            g.set_state(torch.load(args.pre_ckpt + ".rng"))
        else:
            train(model, mixed(args.pre_p), args.pre_steps, args.pre_lr, params, 100, 0.1, 100, "base")
            base_times["base_phase1"] = time.time() - t0
            log(f"base first phase: {time.time() - t0:.0f}s")
            if args.pre_ckpt:
                torch.save(model.state_dict(), args.pre_ckpt)
                torch.save(g.get_state(), args.pre_ckpt + ".rng")
            if args.only_pre:
                return
        t0 = time.time()
        train(model, mixed(args.cont_p), args.cont_steps, args.cont_lr, params, 20, 0.1, 100, "base-cont")
        base_times["base_phase2"] = time.time() - t0
        log(f"base second phase: {time.time() - t0:.0f}s")
        save_checkpoint(base_dir, model.state_dict())
    base = read_safetensors(os.path.join(base_dir, "model.safetensors"))
    bm = model_from(base)
    base_acc = {t: exact(bm, test[t]) for t in tasks}
    log("base accuracy: " + " ".join(f"{t}={a:.3f}" for t, a in base_acc.items()))

    frozen = ("model.embed_tokens.weight", "lm_head.weight")

    def finetune(names, seed, steps, lr, stop=None, every=5):
        """A full fine-tune of the stored base on the correct answers of the
        named tasks (one task: a fine-tune; several: joint training, batches
        mixed evenly), embeddings and lm_head frozen. stop = (items, acc):
        every `every` steps, stop once the exact-match accuracy on those
        (train) items reaches acc."""
        g = torch.Generator().manual_seed(seed)
        model = model_from(base)
        model.train()
        params = []
        for n, p in model.named_parameters():
            p.requires_grad_(n not in frozen)
            if n not in frozen:
                params.append(p)
        per = max(2, args.ft_batch // len(names)) if len(names) > 1 else args.ft_batch

        def batches():
            parts = [train_d[t].sample(g, per, 1.0) for t in names]
            return torch.cat([a for a, _ in parts]), torch.cat([b for _, b in parts])

        done = [steps]
        check = None
        if stop:
            def check(step):
                if (step + 1) % every == 0:
                    model.eval()
                    ok = exact(model, stop[0]) >= stop[1]
                    model.train()
                    if ok:
                        done[0] = step + 1
                    return ok
                return False
        train(model, batches, steps, lr, params, 10, 1.0, 0, "+".join(names[:3]), check)
        return model.state_dict(), done[0]

    only = set(args.tasks.split(",")) if args.tasks else set(tasks)
    ft_sd, ft_acc, preds, ft_time, ft_steps = {}, {}, {}, {}, {}
    for i, t in enumerate(tasks):
        d = os.path.join(args.out, t)
        if not args.skip_ft and t in only:
            t0 = time.time()
            stop = (train_d[t].items[-args.stop_items:], args.ft_stop) if args.ft_stop < 1.5 else None
            sd, steps = finetune([t], args.seed + 1 + i, args.ft_steps, args.ft_lr, stop)
            save_checkpoint(d, sd)
            ft_time[t] = time.time() - t0
            ft_steps[t] = steps
        ft_sd[t] = read_safetensors(os.path.join(d, "model.safetensors"))
        ft_acc[t], preds[t] = accuracy(model_from(ft_sd[t]), test[t])
        log(f"{t}: fine-tune {ft_acc[t]:.3f}  base {base_acc[t]:.3f}  steps {ft_steps.get(t)}")

    # Same-task fine-tunes from different seeds, stopped early (model soups).
    seeds = {}
    seed_tasks = [t for t in args.seed_tasks.split(",") if t]
    lrs = [float(x) for x in args.seed_lrs.split(",")]
    tune = {t: load_jsonl(os.path.join(args.data, t, "tune.jsonl")) for t in seed_tasks}
    for t in seed_tasks:
        for n in range(1, len(lrs) + 1):
            name = f"{t}-seed{n}"
            d = os.path.join(args.out, "seeds", name)
            if not args.skip_seeds:
                stop_items = train_d[t].items[-args.stop_items:]
                sd, steps = finetune([t], args.seed + 1000 * n + tasks.index(t), args.seed_max_steps, lrs[n - 1],
                                     (stop_items, args.seed_stop), every=1)
                save_checkpoint(d, sd)
                seeds[name] = {"task": t, "seed": args.seed + 1000 * n + tasks.index(t), "lr": lrs[n - 1],
                               "steps": steps}
            else:
                with open(os.path.join(args.out, "results.json")) as f:
                    seeds[name] = json.load(f)["seeds"][name]
            m = model_from(read_safetensors(os.path.join(d, "model.safetensors")))
            seeds[name]["tune"] = exact(m, tune[t])
            seeds[name]["test"] = exact(m, test[t])
            log(f"{name}: lr {seeds[name]['lr']} steps {seeds[name]['steps']} tune {seeds[name]['tune']:.3f} "
                f"test {seeds[name]['test']:.3f}")

    # Fixtures for the Go runner.
    fx = []
    for name in ["base", tasks[0], tasks[min(6, len(tasks) - 1)]]:
        m = bm if name == "base" else model_from(ft_sd[name])
        for t in [tasks[0], tasks[min(6, len(tasks) - 1)], tasks[min(10, len(tasks) - 1)]]:
            it = test[t][0]
            e = fixture(m, it["prompt"], it["target"])
            e["model"] = name
            fx.append(e)
    with open(os.path.join(args.out, "fixtures.json"), "w") as f:
        json.dump({"note": "float32 forward on the stored bf16 weights; logits of the last prompt position; "
                           "logprob = sum log-prob of continuation", "entries": fx}, f)
        f.write("\n")
    with open(os.path.join(args.out, "predictions.jsonl"), "w") as f:
        for t in tasks:
            for it, a in zip(test[t], preds[t]):
                f.write(json.dumps({"model": t, "task": t, "prompt": it["prompt"], "target": it["target"],
                                    "answer": a}) + "\n")

    results = {"tasks": tasks, "base": base_acc, "finetune": ft_acc, "seeds": seeds, "merges": [],
               "args": vars(args), "seconds": dict(base_times)}
    if ft_time:
        results["seconds"]["finetune_mean"] = sum(ft_time.values()) / len(ft_time)
        results["finetune_steps"] = ft_steps
    old_path = os.path.join(args.out, "results.json")
    old = {}
    if os.path.exists(old_path):
        with open(old_path) as f:
            old = json.load(f)
        if args.skip_base and args.skip_ft and "args" in old:
            # Nothing was trained: keep the arguments the models were trained with.
            results["args"], results["eval_args"] = old["args"], vars(args)
            results["seconds"] = old.get("seconds", {})
        for key in ("merges", "ceiling", "ceiling_model", "cross"):
            if key in old:
                results[key] = old[key]
        # Fine-tunes not retrained keep their recorded steps.
        results["finetune_steps"] = {**old.get("finetune_steps", {}), **ft_steps}
    if args.cross:
        results["cross"] = {m: {t: (ft_acc[t] if m == t else exact(model_from(ft_sd[m]), test[t]))
                                for t in tasks} for m in tasks}
        log("cross accuracies done")

    def save_results():
        tmp = os.path.join(args.out, "results.json.tmp")
        with open(tmp, "w") as f:
            json.dump(results, f, indent=1)
            f.write("\n")
        os.replace(tmp, os.path.join(args.out, "results.json"))

    save_results()
    if args.no_merges:
        return

    # Random subsets of each size, drawn from the tasks without their
    # opposed partner (the default extension order); a size beyond that
    # pool takes every task.
    opposes = {t["name"]: t.get("opposes", "") for t in infos}
    pool = [t for t in tasks if not (opposes[t] and tasks.index(opposes[t]) < tasks.index(t))]
    subsets = {}
    for k in [int(x) for x in args.ks.split(",")]:
        if k <= len(pool):
            r = random.Random(f"{args.seed}/{k}")
            subsets[k] = [r.sample(pool, k) for _ in range(args.subsets)]
        else:
            subsets[k] = [tasks[:k]]
    results["merge_pool"] = pool
    n_items = args.merge_items
    mtest = {t: test[t][:n_items] for t in tasks}
    ft_m = {t: max(exact(model_from(ft_sd[t]), mtest[t]), 1e-9) for t in tasks}
    results["finetune_merge_items"] = ft_m

    if args.joint_steps:
        # The ceiling: one model trained jointly on every task from the same
        # base with the fine-tunes' learning rate, scored on each subset.
        if not args.skip_joint:
            t0 = time.time()
            sd, _ = finetune(tasks, args.seed + 7, args.joint_steps, args.ft_lr)
            save_checkpoint(os.path.join(args.joint_out or "/tmp/joint-model"), sd)
            results["ceiling_model"] = {"steps": args.joint_steps, "batch": 2 * len(tasks), "lr": args.ft_lr,
                                        "seconds": time.time() - t0}
        jm = model_from(read_safetensors(os.path.join(args.joint_out or "/tmp/joint-model", "model.safetensors")))
        jacc = exact_tasks(jm, mtest)
        results["ceiling"] = [c for c in results.get("ceiling", []) if c["k"] not in subsets]
        for k, subs in subsets.items():
            for j, sub in enumerate(subs):
                results["ceiling"].append({"k": k, "subset": j, "tasks": sub,
                                           "normalized": sum(jacc[t] / ft_m[t] for t in sub) / k})
        results["ceiling_acc"] = jacc
        log(f"joint model: mean normalized {sum(jacc[t] / ft_m[t] for t in tasks) / len(tasks):.3f}")
        save_results()

    methods = set(args.methods.split(","))
    settings = [("task_arithmetic", dict(lam=float(l))) for l in args.ta_lambdas.split(",")]
    settings += [("ties", dict(lam=float(l), density=0.5)) for l in args.ties_lambdas.split(",")]
    settings += [("breadcrumbs", dict(lam=float(l), density=0.9, gamma=0.01)) for l in args.bc_lambdas.split(",")]
    settings = [s for s in settings if s[0] in methods]
    # Earlier results of other methods or sizes are kept.
    results["merges"] = [m for m in results["merges"]
                         if m["method"] not in methods or m["k"] not in subsets or "subset" not in m]
    results["merge_items"] = n_items
    for k, subs in subsets.items():
        for method, kw in settings:
            t0 = time.time()
            norms = []
            for j, sub in enumerate(subs):
                m = model_from(merge(base, [ft_sd[t] for t in sub], method, **kw))
                accs = exact_tasks(m, {t: mtest[t] for t in sub})
                norm = sum(accs[t] / ft_m[t] for t in sub) / k
                norms.append(norm)
                results["merges"].append({"k": k, "subset": j, "tasks": sub, "method": method, **kw, "acc": accs,
                                          "normalized": norm})
            log(f"merge k={k} {method} {kw}: normalized {sum(norms) / len(norms):.3f} "
                f"{[round(x, 2) for x in norms]} ({time.time() - t0:.0f}s)")
            save_results()


if __name__ == "__main__":
    main()
