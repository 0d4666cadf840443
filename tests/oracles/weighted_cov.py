"""Oracle: weighted mean and covariance with numpy. Usage: weighted_cov.py data.json
data.json: {"rows": [[...], ...], "weights": [...]}; prints {"mean": [...], "cov": [[...]]} with
numpy.average(weights=w) and numpy.cov(aweights=w, bias=True)."""
import json, sys
import numpy as np

d = json.load(open(sys.argv[1]))
x = np.array(d["rows"], dtype=np.float64)
w = np.array(d["weights"], dtype=np.float64)
print(json.dumps({"mean": np.average(x, axis=0, weights=w).tolist(),
                  "cov": np.cov(x, rowvar=False, aweights=w, bias=True).tolist()}))
