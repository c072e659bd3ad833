"""Independent reference values for shopd's experiment statistics.

Reads data sets as JSON on stdin and prints, as JSON, what scipy and statsmodels compute for
them from the raw observations: the two-proportion z-test (statsmodels), Welch's t-test
(scipy, from the raw arrays), the delta-method interval of the relative lift (numpy variances
and scipy's normal quantile) and the sample-ratio chi-square (scipy). Used by the Rust test
`experiments_stats`; installed by tests/run-all.sh (PyPI scipy, statsmodels).
"""
import json
import sys

import numpy as np
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

data = json.load(sys.stdin)
out = {"proportions": [], "means": [], "srm": []}

for p in data["proportions"]:
    # Treatment first: the statistic is treatment minus control, as shopd reports it.
    z, pv = proportions_ztest([p["treatment"][1], p["control"][1]], [p["treatment"][0], p["control"][0]])
    out["proportions"].append({"z": float(z), "p": float(pv)})

for m in data["means"]:
    c = np.array(m["control"], dtype=float)
    t = np.array(m["treatment"], dtype=float)
    res = stats.ttest_ind(t, c, equal_var=False)
    mc, mt = c.mean(), t.mean()
    var = t.var(ddof=1) / (mc**2 * len(t)) + c.var(ddof=1) * mt**2 / (mc**4 * len(c))
    lift = (mt - mc) / mc
    half = stats.norm.ppf(0.975) * np.sqrt(var)
    out["means"].append({"t": float(res.statistic), "p": float(res.pvalue),
                         "lift": float(lift), "low": float(lift - half), "high": float(lift + half)})

for s in data["srm"]:
    obs = np.array(s["observed"], dtype=float)
    w = np.array(s["weights"], dtype=float)
    chi, pv = stats.chisquare(obs, obs.sum() * w / w.sum())
    out["srm"].append({"chi": float(chi), "p": float(pv)})

json.dump(out, sys.stdout)
