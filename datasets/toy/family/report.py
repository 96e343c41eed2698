#!/usr/bin/python3
"""Print the README's markdown tables from results.json and tasks.json.

    /usr/bin/python3 datasets/toy/family/report.py --data /tmp/toydata --family datasets/toy/family
"""

import argparse
import json
import os


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--family", required=True)
    a = ap.parse_args()
    with open(os.path.join(a.data, "tasks.json")) as f:
        infos = json.load(f)
    with open(os.path.join(a.family, "results.json")) as f:
        r = json.load(f)

    print("| task | tag | example prompt | target | distractor | answer | distractor rule |")
    print("|---|---|---|---|---|---|---|")
    for t in infos:
        e = t["example"]
        print(f"| {t['name']} | `{t['tag']}` | `{e['prompt']}` | `{e['target']}` | `{e['distractor']}` | "
              f"{t['description']} | {t['distractor']} |")
    print()
    print("| task | base | fine-tune (own task) |")
    print("|---|---:|---:|")
    for t in r["tasks"]:
        print(f"| {t} | {100 * r['base'][t]:.1f} | {100 * r['finetune'][t]:.1f} |")
    print(f"| **mean** | {100 * sum(r['base'].values()) / len(r['base']):.1f} | "
          f"{100 * sum(r['finetune'].values()) / len(r['finetune']):.1f} |")
    print()
    if r.get("cross"):
        tasks = r["tasks"]
        print("| fine-tune \\ task | " + " | ".join(tasks) + " |")
        print("|---|" + "---:|" * len(tasks))
        for m in tasks:
            print(f"| {m} | " + " | ".join(f"{100 * r['cross'][m][t]:.0f}" for t in tasks) + " |")
        print()
    ms = r.get("merges", [])
    if not ms:
        return
    ks = sorted({m["k"] for m in ms})
    keys = []
    for m in ms:
        key = (m["method"], m["lam"], m.get("density", 1.0), m.get("gamma", 0.0))
        if key not in keys:
            keys.append(key)
    rank = {"task_arithmetic": 0, "ties": 1, "breadcrumbs": 2}
    keys.sort(key=lambda x: (rank.get(x[0], 9), x[1:]))
    print("| method | λ | density | gamma | " + " | ".join(f"k={k}" for k in ks) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(ks))
    for key in keys:
        cells = []
        for k in ks:
            v = [m["normalized"] for m in ms if m["k"] == k and
                 (m["method"], m["lam"], m.get("density", 1.0), m.get("gamma", 0.0)) == key]
            cells.append(f"{v[0]:.2f}" if v else "")
        meth, lam, dens, gam = key
        print(f"| {meth} | {lam} | {dens if meth != 'task_arithmetic' else ''} | {gam if meth == 'breadcrumbs' else ''} | "
              + " | ".join(cells) + " |")
    print()
    print("Merge order (k tasks = the first k): " + ", ".join(r.get("merge_order", [])))


if __name__ == "__main__":
    main()
