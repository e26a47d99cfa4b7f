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
