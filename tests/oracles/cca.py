"""Oracle: unweighted canonical correlations of two band stacks with numpy.linalg.
Usage: cca.py data.f32 n p   (data: float32, pixel-major rows of 2p values: p bands of date 1 then p of date 2)
Prints JSON {"rho": ascending canonical correlations, "rho_svd": same by SVD, "cov": weighted=False covariance}.
Two independent routes: eigenvalues of S11^-1 S12 S22^-1 S21 (general, non-symmetric eig) and singular values of
S11^-1/2 S12 S22^-1/2 (symmetric square roots from eigh)."""
import json, sys
import numpy as np

n, p = int(sys.argv[2]), int(sys.argv[3])
z = np.fromfile(sys.argv[1], dtype=np.float32).astype(np.float64).reshape(n, 2 * p)
z = z[np.all(np.isfinite(z), axis=1)]
c = np.cov(z, rowvar=False, bias=True)
s11, s12, s22 = c[:p, :p], c[:p, p:], c[p:, p:]
m = np.linalg.solve(s11, s12) @ np.linalg.solve(s22, s12.T)
ev = np.sort(np.real(np.linalg.eigvals(m)))
rho = np.sqrt(np.clip(ev, 0, None))

def inv_sqrt(s):
    w, v = np.linalg.eigh(s)
    return v @ np.diag(w ** -0.5) @ v.T

sv = np.linalg.svd(inv_sqrt(s11) @ s12 @ inv_sqrt(s22), compute_uv=False)
print(json.dumps({"rho": rho.tolist(), "rho_svd": np.sort(sv).tolist()}))
