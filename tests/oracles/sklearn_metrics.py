"""Oracle: binary change scores with scikit-learn. Usage: sklearn_metrics.py input.json
input.json: {"items": [{"pred": [0/1...], "truth": [0/1...]}, ...]}; prints JSON, one result per item."""
import json, sys
from sklearn.metrics import (accuracy_score, cohen_kappa_score, confusion_matrix, f1_score, jaccard_score,
                             precision_score, recall_score)

out = []
for item in json.load(open(sys.argv[1]))["items"]:
    p, t = item["pred"], item["truth"]
    tn, fp, fn, tp = confusion_matrix(t, p, labels=[0, 1]).ravel()
    out.append({
        "tp": int(tp), "fp": int(fp), "fn": int(fn), "tn": int(tn),
        "precision": precision_score(t, p, zero_division=0),
        "recall": recall_score(t, p, zero_division=0),
        "f1": f1_score(t, p, zero_division=0),
        "iou": jaccard_score(t, p, zero_division=0),
        "overallAccuracy": accuracy_score(t, p),
        "kappa": cohen_kappa_score(t, p),
    })
print(json.dumps(out))
