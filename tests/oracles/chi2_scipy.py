"""Oracle: chi-square CDF and quantiles with scipy.stats. Usage: chi2_scipy.py input.json
input.json: {"cdf": [[x, dof], ...], "ppf": [[q, dof], ...]}; prints {"cdf": [...], "ppf": [...]}."""
import json, sys
from scipy.stats import chi2

d = json.load(open(sys.argv[1]))
print(json.dumps({"cdf": [chi2.cdf(x, k) for x, k in d["cdf"]], "ppf": [chi2.ppf(q, k) for q, k in d["ppf"]]}))
