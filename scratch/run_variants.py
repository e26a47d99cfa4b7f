import sys, warnings
import numpy as np
warnings.simplefilter("ignore")
sys.path.insert(0, "scratch")
import variants as V
from helm_efficiency.sources import correction as C
import statsmodels.api as sm

ORIG_WLS = C._wls
ORIG_FEATURES = C._features

def lad_wls(rows, terms, free=("legacy",)):
    """Weighted median (LAD) regression of measured/sim − 1: sum w|r| minimized (QuantReg on w-scaled rows)."""
    y = (rows["value"] / rows["sim"] - 1).to_numpy(float)
    w = C._source_weights(rows["source_id"])
    terms = list(terms)
    while terms:
        x = C._features(rows, terms)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                params = sm.QuantReg(y * w, x * w[:, None]).fit(q=0.5, max_iter=5000).params
            except Exception:
                params = sm.WLS(y, x, weights=w).fit().params
        negative = [t for t, v in zip(terms, params) if v < 0 and t not in free and not t.startswith("comm@")]
        if not negative:
            return {t: float(v) for t, v in zip(terms, params)}
        terms.remove(negative[0])
    return {}

def features_legacy_step(rows, terms):
    base = [t for t in terms if t != "legacy_step"]
    x = ORIG_FEATURES(rows, base) if base else np.zeros((len(rows), 0))
    if "legacy_step" in terms:
        col = C.flags(rows["legacy"]) / rows["sim"].to_numpy(float) if "legacy" in rows else np.zeros(len(rows))
        cols = list(x.T)
        cols.insert(terms.index("legacy_step"), col)
        x = np.column_stack(cols)
    return x

which = sys.argv[1:]
for name in which:
    if name == "baseline":
        V.judge("baseline")
    elif name == "version_scale":
        C.VERSION_TERM = True; V.judge("version term (scale), all frameworks"); C.VERSION_TERM = False
    elif name == "version_step":
        # the version term as a per-step overhead (seconds): older releases add CPU time per forward step
        C.VERSION_TERM = True
        orig_fit = C.fit_phase
        C._features = features_legacy_step
        def fit_phase(rows, form):
            rows = C._with_links(rows)
            if "+legacy" not in form:
                return orig_fit(rows, form)
            base = form.replace("+legacy", "")
            b, _, shrink = base.partition("/k=")
            terms = [t for t in C.BASE_FORMS[b] if C.identifiable(rows, t)] + ["legacy_step"]
            coeffs = C._wls(rows, terms, free=("legacy_step",))
            pc = orig_fit(rows, base)
            return C.PhaseCorrection(form, coeffs, pc.comm_by_link if shrink else {}, sources=pc.sources, rows=pc.rows)
        C.fit_phase = fit_phase
        orig_apply = C.PhaseCorrection.apply
        def apply(self, sim, layers, tp, gpu=None, legacy=None):
            out = orig_apply(self, sim, layers, tp, gpu, legacy)
            if legacy is not None and "legacy_step" in self.coefficients:
                out = out + self.coefficients["legacy_step"] * C.flags(legacy)
            return out
        C.PhaseCorrection.apply = apply
        V.judge("version term (step)")
        C.fit_phase = orig_fit; C._features = ORIG_FEATURES; C.PhaseCorrection.apply = orig_apply; C.VERSION_TERM = False
    elif name == "lad":
        C._wls = lad_wls; V.judge("LAD (weighted median regression)"); C._wls = ORIG_WLS
    elif name == "lad_version":
        C._wls = lad_wls; C.VERSION_TERM = True; V.judge("LAD + version term(scale)"); C._wls = ORIG_WLS; C.VERSION_TERM = False

def huber_wls(rows, terms, free=("legacy",)):
    """Huber M-estimate (statsmodels RLM) on sqrt(w)-scaled rows."""
    y = (rows["value"] / rows["sim"] - 1).to_numpy(float)
    w = np.sqrt(C._source_weights(rows["source_id"]))
    terms = list(terms)
    while terms:
        x = C._features(rows, terms)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                params = sm.RLM(y * w, x * w[:, None], M=sm.robust.norms.HuberT()).fit().params
            except Exception:
                params = sm.WLS(y, x, weights=w ** 2).fit().params
        negative = [t for t, v in zip(terms, params) if v < 0 and t not in free and not t.startswith("comm@")]
        if not negative:
            return {t: float(v) for t, v in zip(terms, params)}
        terms.remove(negative[0])
    return {}

ESTIMATOR = {"wls": ORIG_WLS, "lad": lad_wls, "huber": huber_wls}

def with_estimator_choice(choices):
    """Candidate forms × estimators, the pair chosen by the inner leave-one-source-out like the form."""
    orig_cand, orig_fit = C.candidate_forms, C.fit_phase
    def cand(rows):
        return [f + ("" if e == "wls" else f"@{e}") for f in orig_cand(rows) for e in choices]
    def fit(rows, form):
        base, _, est = form.partition("@")
        C._wls = ESTIMATOR[est or "wls"]
        try:
            pc = orig_fit(rows, base)
        finally:
            C._wls = ORIG_WLS
        return C.PhaseCorrection(form, pc.coefficients, pc.comm_by_link, pc.interval, pc.variance, pc.sources, pc.rows)
    C.candidate_forms, C.fit_phase = cand, fit
    return lambda: (setattr(C, "candidate_forms", orig_cand), setattr(C, "fit_phase", orig_fit))

for name in which:
    if name == "huber":
        C._wls = huber_wls; V.judge("Huber RLM"); C._wls = ORIG_WLS
    elif name.startswith("choose:"):
        undo = with_estimator_choice(name[7:].split(","))
        V.judge(f"estimator chosen LOSO among {name[7:]}")
        undo()

def with_gpu_scale(ks=(None, 40.0, 10.0), within=False):
    """A per-GPU scale, shrunk toward the shared scale by n_g/(n_g + k) (k chosen LOSO with the form; None = shared);
    only GPUs that >= 2 sources measured get their own."""
    orig_cand, orig_fit, orig_apply = C.candidate_forms, C.fit_phase, C.PhaseCorrection.apply
    def cand(rows):
        out = []
        for f in orig_cand(rows):
            out.append(f)
            if "scale" in C.BASE_FORMS[f.partition("/k=")[0].replace("+legacy", "")]:
                out += [f + f"|g={k:g}" for k in ks if k is not None]
        return out
    def fit(rows, form):
        base, _, gk = form.partition("|g=")
        pc = orig_fit(rows, base)
        coeffs = dict(pc.coefficients)
        if gk and "scale" in coeffs:
            k = float(gk)
            rows = C._with_links(rows)
            nsrc = rows.groupby("gpu")["source_id"].nunique()
            gpus = sorted(g for g, n in nsrc.items() if n >= 2)
            if within:
                y = (rows["value"] / rows["sim"] - 1).to_numpy(float)
                resid = y - (C._features(rows, list(coeffs.keys())) @ np.array(list(coeffs.values())))
                frame = rows.assign(r=resid)
                cell = frame.groupby(["source_id", "gpu"])["r"].agg(["median" if C._wls is lad_wls else "mean", "size"])
                cell.columns = ["m", "n"]
                multi = cell.groupby(level=0).filter(lambda c: len(c) >= 2)
                if len(multi):
                    contrast = multi["m"] - multi.groupby(level=0)["m"].transform("mean")
                    by_gpu = contrast.groupby(level=1)
                    for g, c in by_gpu:
                        n = float(multi.xs(g, level=1)["n"].sum())
                        coeffs[f"scale@{g}"] = coeffs["scale"] + n / (n + k) * float(c.mean())
                gpus = []
            if len(gpus) >= 2:
                y = (rows["value"] / rows["sim"] - 1).to_numpy(float)
                resid = y - (C._features(rows, list(coeffs.keys())) @ np.array(list(coeffs.values())) if coeffs else 0)
                w = C._source_weights(rows["source_id"])
                for g in gpus:
                    m = (rows["gpu"] == g).to_numpy()
                    # the GPU's offset from the shared fit: its rows' (weighted) mean residual; for LAD the weighted median
                    if C._wls is lad_wls:
                        o = np.argsort(resid[m]); cw = np.cumsum(w[m][o]); d = float(resid[m][o][np.searchsorted(cw, cw[-1] / 2)])
                    else:
                        d = float(np.average(resid[m], weights=w[m]))
                    n = float(m.sum())
                    coeffs[f"scale@{g}"] = coeffs["scale"] + n / (n + k) * d
        return C.PhaseCorrection(form, coeffs, pc.comm_by_link, pc.interval, pc.variance, pc.sources, pc.rows)
    def apply(self, sim, layers, tp, gpu=None, legacy=None):
        out = orig_apply(self, sim, layers, tp, gpu, legacy)
        if any(k.startswith("scale@") for k in self.coefficients):
            s = np.asarray(sim, float)
            gl = [gpu] * s.size if gpu is None or isinstance(gpu, str) else list(gpu)
            extra = np.array([self.coefficients.get(f"scale@{g}", self.coefficients["scale"]) - self.coefficients["scale"] for g in gl])
            out = out + s * (extra if s.ndim else extra[0])
        return out
    C.candidate_forms, C.fit_phase, C.PhaseCorrection.apply = cand, fit, apply
    return lambda: (setattr(C, "candidate_forms", orig_cand), setattr(C, "fit_phase", orig_fit), setattr(C.PhaseCorrection, "apply", orig_apply))

for name in which:
    if name == "gpuscale":
        undo = with_gpu_scale(); V.judge("per-GPU scale shrunk (k LOSO), WLS"); undo()
    elif name == "gpuscale_lad":
        C._wls = lad_wls; undo = with_gpu_scale(); V.judge("per-GPU scale shrunk (k LOSO), LAD"); undo(); C._wls = ORIG_WLS

for name in which:
    if name == "gpuwithin":
        undo = with_gpu_scale(within=True); V.judge("per-GPU scale from within-source contrasts, shrunk (k LOSO), WLS"); undo()
    elif name == "gpuwithin_lad":
        C._wls = lad_wls; undo = with_gpu_scale(within=True); V.judge("per-GPU scale from within-source contrasts, shrunk, LAD"); undo(); C._wls = ORIG_WLS

def with_comm_required():
    """Rows with TP > 1: only forms with the all-reduce term are candidates (it is physically there)."""
    orig = C.candidate_forms
    def cand(rows):
        forms = orig(rows)
        if C.identifiable(rows, "comm"):
            kept = [f for f in forms if "comm" in C.BASE_FORMS[f.partition("/k=")[0].partition("|")[0].replace("+legacy", "")]]
            return kept or forms
        return forms
    C.candidate_forms = cand
    return lambda: setattr(C, "candidate_forms", orig)

for name in which:
    if name.startswith("commreq"):
        parts = name.split("+")[1:]
        undos = [with_comm_required()]
        if "lad" in parts: C._wls = lad_wls
        if "huber" in parts: C._wls = huber_wls
        if "choose" in parts: undos.append(with_estimator_choice(["wls", "lad"]))
        if "within" in parts: undos.append(with_gpu_scale(within=True))
        V.judge("comm required at TP>1 " + "+".join(parts))
        for u in reversed(undos): u()
        C._wls = ORIG_WLS

def with_phase_estimator(phase_q, est):
    """`est` for the rows of one quantity only (decided outside the nested LOSO: for information)."""
    orig = C._wls
    def wls(rows, terms, free=("legacy",)):
        if (rows["quantity"] == phase_q).all():
            return ESTIMATOR[est](rows, terms, free)
        return ORIG_WLS(rows, terms, free)
    C._wls = wls
    return lambda: setattr(C, "_wls", orig)

for name in which:
    if name.startswith("phaselad:"):
        q = name.split(":")[1]
        undos = [with_comm_required(), with_phase_estimator(q, "lad")]
        V.judge(f"comm required + LAD only for {q}")
        for u in reversed(undos): u()

def with_eb_shrink():
    """Per-interconnect comm shrunk toward the shared value with an empirical-Bayes weight: tau^2 (between links)
    by moments from the free per-link WLS estimates and their cluster-robust (by source) standard errors;
    w_g = tau^2 / (tau^2 + se_g^2). Candidates: shared (None) and eb."""
    orig_cand, orig_fit = C.candidate_forms, C.fit_phase
    def cand(rows):
        out = []
        for f in orig_cand(rows):
            if "/k=" in f:
                b = f.partition("/k=")[0]
                if b + "/k=eb" not in out: out.append(b + "/k=eb")
            else:
                out.append(f)
        return out
    def fit(rows, form):
        base, _, k = form.partition("/k=")
        if k != "eb":
            return orig_fit(rows, form)
        pc = orig_fit(rows, base)
        rows = C._with_links(rows)
        if "comm" not in pc.coefficients:
            return C.PhaseCorrection(form, pc.coefficients, {}, sources=pc.sources, rows=pc.rows)
        tp_rows = rows[rows["tp"] > 1]
        links = sorted(tp_rows["link"].unique())
        split = [t for t in pc.coefficients if t != "comm"] + [f"comm@{g}" for g in links]
        y = (rows["value"] / rows["sim"] - 1).to_numpy(float)
        w = C._source_weights(rows["source_id"])
        x = C._features(rows, split)
        groups = rows["source_id"].astype("category").cat.codes.to_numpy()
        try:
            fitw = sm.WLS(y, x, weights=w).fit(cov_type="cluster", cov_kwds={"groups": groups})
            b = {g: float(fitw.params[split.index(f"comm@{g}")]) for g in links}
            se2 = {g: float(fitw.bse[split.index(f"comm@{g}")]) ** 2 for g in links}
        except Exception:
            return C.PhaseCorrection(form, pc.coefficients, {}, sources=pc.sources, rows=pc.rows)
        shared = pc.coefficients["comm"]
        if len(links) >= 2:
            tau2 = max(0.0, float(np.var(list(b.values()), ddof=1)) - float(np.mean(list(se2.values()))))
        else:
            tau2 = 0.0
        by_link = {g: shared + (tau2 / (tau2 + se2[g]) if tau2 + se2[g] > 0 else 0.0) * (b[g] - shared) for g in links}
        return C.PhaseCorrection(form, pc.coefficients, by_link, sources=pc.sources, rows=pc.rows)
    C.candidate_forms, C.fit_phase = cand, fit
    return lambda: (setattr(C, "candidate_forms", orig_cand), setattr(C, "fit_phase", orig_fit))

for name in which:
    if name.startswith("eb"):
        parts = name.split("+")[1:]
        undos = [with_eb_shrink()]
        if "commreq" in parts: undos.append(with_comm_required())
        if "ladprefill" in parts: undos.append(with_phase_estimator("ttft_s", "lad"))
        V.judge("EB-shrunk comm " + "+".join(parts))
        for u in reversed(undos): u()
for name in which:
    if name == "ladprefill":
        u = with_phase_estimator("ttft_s", "lad"); V.judge("LAD only for prefill (WLS decode)"); u()
    elif name == "eb+commreq+lad":
        undos = [with_eb_shrink(), with_comm_required()]; C._wls = lad_wls
        V.judge("EB comm + comm required + LAD both phases"); C._wls = ORIG_WLS
        for u in reversed(undos): u()
