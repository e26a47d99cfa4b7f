"""LOSO judge of correction variants (nested refits, same procedure as bench/measured_accuracy.py, shorter print)."""
import sys, warnings, importlib
import numpy as np, pandas as pd
warnings.simplefilter("ignore")
sys.path.insert(0, "bench")
from helm_efficiency.sources import correction as C
from helm_efficiency.sources.anchor import load_simulated_anchors
import measured_accuracy as M

import os
DETAIL = bool(os.environ.get("DETAIL"))
ROWS = C.fit_rows(load_simulated_anchors())

def judge(name):
    f = M.held_out(ROWS)
    f = f[f["precision16"].astype(bool)].copy()
    f['stack'] = f["gpu"] + "-" + f["backend"]
    f['tpb'] = np.where(f["tp"] > 1, "TP>1", "TP1")
    e = f["corrected"] / f["value"] - 1
    cov = (f["value"] >= f["lo"]) & (f["value"] <= f["hi"])
    out = [f"{name}: all {np.median(np.abs(e)):.1%} signed {np.median(e):+.1%} cov {cov.mean():.1%}"]
    for t in ("TP1", "TP>1"):
        m = f['tpb'] == t
        out.append(f"{t} {np.median(np.abs(e[m])):.1%}")
    out.append("| signed stack×TP: " + " ".join(f"{s}/{t} {np.median(e[(f['stack']==s)&(f['tpb']==t)]):+.1%}" for s, t in sorted(set(zip(f['stack'], f['tpb'])))))
    out.append("| phase: " + " ".join(f"{p} {np.median(np.abs(e[f['quantity']==p])):.1%}/{np.median(e[f['quantity']==p]):+.1%}" for p in ("ttft_s", "tpot_s")))
    ps = f.assign(e=e.abs()).groupby("source_id")["e"].median().median()
    out.append(f"| per-source median {ps:.1%}")
    print(" ".join(out), flush=True)
    if DETAIL:
        print(f.assign(e=e).groupby(["stack", "tpb", "quantity"])["e"].agg(["size", "median", lambda x: np.median(np.abs(x))]).to_string())
    return f

if __name__ == "__main__":
    judge("baseline")
