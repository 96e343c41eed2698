#!/usr/bin/python3
"""Print the README's markdown tables from results.json and tasks.json.

    /usr/bin/python3 datasets/toy/family/report.py --data /tmp/toydata --family datasets/toy/family
"""

import argparse
import json
import math
import os

# Student t quantiles (0.975) by degrees of freedom, for intervals across
# subsets.
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}

RANK = {"task_arithmetic": 0, "ties": 1, "breadcrumbs": 2}


def setting(m):
    if m["method"] == "task_arithmetic":
        return f"λ {m['lam']}"
    if m["method"] == "ties":
        return f"λ {m['lam']}, density {m['density']}"
    return f"λ {m['lam']}, density {m['density']}, gamma {m['gamma']}"


def interval(v):
    """Mean and 95% Student t interval across subsets (None for one)."""
    n = len(v)
    mean = sum(v) / n
    if n < 2:
        return mean, None
    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1))
    h = T975.get(n - 1, 1.96) * sd / math.sqrt(n)
    return mean, (mean - h, mean + h)


def cell(v):
    mean, ci = interval(v)
    return f"{mean:.2f}" if ci is None else f"{mean:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--family", required=True)
    a = ap.parse_args()
    with open(os.path.join(a.data, "tasks.json")) as f:
        infos = json.load(f)
    with open(os.path.join(a.family, "results.json")) as f:
        r = json.load(f)

    print("| task | tag | example prompt | target | distractor | answer | distractor rule | opposes |")
    print("|---|---|---|---|---|---|---|---|")
    for t in infos:
        e = t["example"]
        print(f"| {t['name']} | `{t['tag']}` | `{e['prompt']}` | `{e['target']}` | `{e['distractor']}` | "
              f"{t['description']} | {t['distractor']} | {t.get('opposes', '')} |")
    print()
    print("| task | base | fine-tune (own task) |")
    print("|---|---:|---:|")
    for t in r["tasks"]:
        print(f"| {t} | {100 * r['base'][t]:.1f} | {100 * r['finetune'][t]:.1f} |")
    print(f"| **mean** | {100 * sum(r['base'].values()) / len(r['base']):.1f} | "
          f"{100 * sum(r['finetune'].values()) / len(r['finetune']):.1f} |")
    print()
    if r.get("seeds"):
        print("| seed model | task | seed | lr | steps | tune % | test % | fine-tune test % |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for name, s in r["seeds"].items():
            print(f"| {name} | {s['task']} | {s['seed']} | {s['lr']:g} | {s['steps']} | {100 * s['tune']:.1f} | "
                  f"{100 * s['test']:.1f} | {100 * r['finetune'][s['task']]:.1f} |")
        print()
    if r.get("cross"):
        tasks = r["tasks"]
        print("| fine-tune \\ task | " + " | ".join(tasks) + " |")
        print("|---|" + "---:|" * len(tasks))
        for m in tasks:
            print(f"| {m} | " + " | ".join(f"{100 * r['cross'][m][t]:.0f}" for t in tasks) + " |")
        print()
    ms = [m for m in r.get("merges", []) if "subset" in m]
    if not ms:
        return
    ks = sorted({m["k"] for m in ms})
    # normalized accuracies by (method, setting, k): one per subset
    by = {}
    for m in ms:
        by.setdefault((m["method"], setting(m)), {}).setdefault(m["k"], []).append(m["normalized"])
    methods = sorted({k[0] for k in by}, key=lambda x: RANK.get(x, 9))
    nsub = {k: max(len(v.get(k, [])) for v in by.values()) for k in ks}
    print("| method (best setting per size) | " + " | ".join(f"{k} tasks" for k in ks) + " |")
    print("|---|" + "---:|" * len(ks))
    for meth in methods:
        cells = []
        for k in ks:
            cands = [(sum(v[k]) / len(v[k]), s, v[k]) for (mm, s), v in by.items() if mm == meth and k in v]
            if not cands:
                cells.append("")
                continue
            _, s, v = max(cands, key=lambda c: c[0])
            cells.append(f"{cell(v)} ({s})")
        print(f"| {meth} | " + " | ".join(cells) + " |")
    ceil = {}
    for c in r.get("ceiling", []):
        ceil.setdefault(c["k"], []).append(c["normalized"])
    if ceil:
        print("| joint training on all tasks (ceiling) | " +
              " | ".join(cell(ceil[k]) if k in ceil else "" for k in ks) + " |")
    print()
    print("Subsets per size: " + ", ".join(f"{k}: {nsub[k]}" for k in ks) + f"; {r.get('merge_items')} test items per task.")
    print()
    print("| method | setting | " + " | ".join(f"{k}" for k in ks) + " |")
    print("|---|---|" + "---:|" * len(ks))
    for (meth, s), v in sorted(by.items(), key=lambda x: (RANK.get(x[0][0], 9), x[0][1])):
        print(f"| {meth} | {s} | " + " | ".join(f"{sum(v[k]) / len(v[k]):.2f}" if k in v else "" for k in ks) + " |")


if __name__ == "__main__":
    main()
