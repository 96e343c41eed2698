#!/usr/bin/python3
"""Train the toy family's same-task fine-tunes from several seeds (not run by CI).

Model Soups, Model Stock and SLERP need several fine-tunes of ONE task from
the same base; `mergetune reproduce` reads whatever this script wrote under
seeds/<task>-seed<N>/ (datasets/toy/family.Seeds lists them). Each one
starts from the stored base and trains like train.py's fine-tunes
(embeddings and lm_head frozen, batch 64 of the task's correct answers,
bf16 autocast) but deliberately short, with a learning rate that varies
with the seed, so that single fine-tunes are imperfect (about 70-90% on
the test split) and a soup has room to improve on them.

Reproduce (from the repository root; about a minute per model on 2 cores):

    go run ./datasets/toy/cmd/toyexport -out /tmp/toydata
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 datasets/toy/family/seeds.py \
        --data /tmp/toydata --out datasets/toy/family

For a retrained base, adjust --steps (per task) until the accuracies it
prints land in that range. It writes seeds/results.json with every model's
test accuracy and the arguments.
"""

import argparse
import json
import os
import time

import torch

import train as T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="directory written by toyexport")
    ap.add_argument("--out", required=True, help="family directory (holds base/; seeds/ is written)")
    ap.add_argument("--steps", default="rot1:15,reverse:28,parity:26,majority:20",
                    help="task:steps for each seeded task")
    ap.add_argument("--seeds", type=int, default=4, help="seeds per task (1..N)")
    ap.add_argument("--lr", type=float, default=5e-4, help="learning rate in the middle of the seeds")
    ap.add_argument("--lr-step", type=float, default=0.1,
                    help="seed N of S trains at lr * (1 + lr-step * (N - (S+1)/2))")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    base = T.read_safetensors(os.path.join(args.out, "base", "model.safetensors"))
    frozen = ("model.embed_tokens.weight", "lm_head.weight")
    report = {"args": vars(args), "accuracy": {}}
    for spec in args.steps.split(","):
        task, steps = spec.split(":")
        steps = int(steps)
        data = T.TaskData(task, T.load_jsonl(os.path.join(args.data, task, "train.jsonl")))
        test = T.load_jsonl(os.path.join(args.data, task, "test.jsonl"))[:200]
        for n in range(1, args.seeds + 1):
            t0 = time.time()
            torch.manual_seed(n)
            g = torch.Generator().manual_seed(1000 * n + 17)
            model = T.model_from(base)
            model.train()
            params = []
            for name, p in model.named_parameters():
                p.requires_grad_(name not in frozen)
                if name not in frozen:
                    params.append(p)
            lr = args.lr * (1 + args.lr_step * (n - (args.seeds + 1) / 2))
            T.train(model, lambda: data.sample(g, 64, 1.0), steps, lr, params, min(10, steps), 1.0, 0, task)
            name = f"{task}-seed{n}"
            T.save_checkpoint(os.path.join(args.out, "seeds", name), model.state_dict())
            acc, _ = T.accuracy(T.model_from(T.bf16_round(model.state_dict())), test)
            report["accuracy"][name] = acc
            T.log(f"{name}: {steps} steps at lr {lr:.2e}: test accuracy {acc:.3f} ({time.time() - t0:.0f}s)")
    with open(os.path.join(args.out, "seeds", "results.json"), "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
