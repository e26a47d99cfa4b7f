"""Ablations of the shipped rules with the module's own switches (nested LOSO as the bench)."""
import sys, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, "scratch")
import variants as V
from helm_efficiency.sources import correction as C

for spec in sys.argv[1:]:
    est, req, shrink = spec.split(",")
    C.ESTIMATOR, C.REQUIRE_COMM = est, req == "req"
    C.SHRINK_K = (None, "eb") if shrink == "eb" else (None, 40.0, 10.0)
    V.judge(f"ESTIMATOR={est} REQUIRE_COMM={req == 'req'} SHRINK={shrink}")
