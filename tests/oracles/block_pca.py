"""Oracle: eigenvalues of the covariance of non-overlapping h x h blocks (Celik 2009 step 2) with numpy.
Usage: block_pca.py diff.f32 width height h ; prints {"eigenvalues": [...descending], "mean": [...]}.
Blocks with any NaN, and incomplete edge blocks, are dropped."""
import json, sys
import numpy as np

w, h, b = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
img = np.fromfile(sys.argv[1], dtype=np.float32).astype(np.float64).reshape(h, w)
img = img[: (h // b) * b, : (w // b) * b]
blocks = img.reshape(h // b, b, w // b, b).transpose(0, 2, 1, 3).reshape(-1, b * b)
blocks = blocks[np.all(np.isfinite(blocks), axis=1)]
c = np.cov(blocks, rowvar=False, bias=True)
print(json.dumps({"eigenvalues": np.sort(np.linalg.eigvalsh(c))[::-1].tolist(), "mean": blocks.mean(axis=0).tolist()}))
