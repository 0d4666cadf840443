"""Reference MAD / IR-MAD (Nielsen 2007) in numpy + scipy, written from the paper, independent of src/change/irmad.ts.

As a module: mad_fit(x, y, w=None, reg=0) -> dict(rho, a, b, sigma, mean_x, mean_y); mad_stats(model, x, y) -> (mad, z);
irmad(x, y, max_iter, tol, reg, min_no_change_share) -> (model, rho_history, iterations, stop_reason).
x, y: (n, p) float64 arrays of the two dates. Canonical correlations come from the generalised symmetric eigenproblem
S12 S22^-1 S21 a = rho^2 S11 a (scipy.linalg.eigh), ascending, U = a^T (x - mean), V = b^T (y - mean) with unit
variance, MAD = U - V, sigma^2 = 2 (1 - rho), Z = sum (MAD/sigma)^2 ~ chi2(p) for no change, p-values by scipy.stats.

As a script: mad_reference.py data.f32 n p mode [max_iter tol reg min_share]
  data: float32, pixel-major rows of 2p values (p bands of date 1, then p of date 2); mode 'mad' or 'irmad'.
  Prints JSON {rho, sigma, z (first 2000 values), pchange (first 2000), iterations, history, stop}.
"""
import json, sys
import numpy as np
from scipy import linalg, stats


def mad_fit(x, y, w=None, reg=0.0):
    n, p = x.shape
    w = np.ones(n) if w is None else w
    ws = w.sum()
    mx = (w[:, None] * x).sum(0) / ws
    my = (w[:, None] * y).sum(0) / ws
    xc, yc = x - mx, y - my
    s11 = (w[:, None] * xc).T @ xc / ws
    s22 = (w[:, None] * yc).T @ yc / ws
    s12 = (w[:, None] * xc).T @ yc / ws
    if reg:
        s11 = s11 + reg * np.trace(s11) / p * np.eye(p)
        s22 = s22 + reg * np.trace(s22) / p * np.eye(p)
    c = s12 @ np.linalg.solve(s22, s12.T)
    lam, a = linalg.eigh(c, s11)          # ascending rho^2, a^T S11 a = 1
    rho = np.sqrt(np.clip(lam, 0, 1))
    b = np.linalg.solve(s22, s12.T @ a)
    b = b / np.sqrt(np.einsum('ij,ik,kj->j', b, s22, b))
    # sign: U positively correlated with the sum of date-1 bands; V follows so that corr(U, V) > 0
    sgn = np.sign((s11 @ a).sum(0))
    sgn[sgn == 0] = 1
    a, b = a * sgn, b * sgn
    sigma = np.sqrt(np.maximum(2 * (1 - np.einsum('ij,ik,kj->j', a, s12, b)), 1e-12))
    return dict(rho=rho, a=a, b=b, sigma=sigma, mean_x=mx, mean_y=my)


def mad_stats(m, x, y):
    mad = (x - m['mean_x']) @ m['a'] - (y - m['mean_y']) @ m['b']
    z = ((mad / m['sigma']) ** 2).sum(1)
    return mad, z


def irmad(x, y, max_iter=30, tol=1e-4, reg=0.0, min_share=0.0):
    p = x.shape[1]
    w = np.ones(len(x))
    hist = []
    m = None
    stop = 'max_iter'
    for it in range(max_iter):
        m_new = mad_fit(x, y, w, reg)
        if hist and min_share > 0:
            pass
        hist.append(m_new['rho'].tolist())
        m = m_new
        if len(hist) > 1 and np.max(np.abs(np.array(hist[-1]) - np.array(hist[-2]))) < tol:
            stop = 'converged'
            break
        _, z = mad_stats(m, x, y)
        w_next = stats.chi2.sf(z, p)
        if min_share > 0 and np.mean(w_next > 0.5) < min_share:
            stop = 'no-change share'
            break
        w = w_next
    return m, hist, len(hist), stop


if __name__ == '__main__':
    n, p, mode = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    extra = sys.argv[5:]
    d = np.fromfile(sys.argv[1], dtype=np.float32).astype(np.float64).reshape(n, 2 * p)
    x, y = d[:, :p], d[:, p:]
    if mode == 'mad':
        m, hist, iters, stop = mad_fit(x, y), None, 1, 'plain'
        hist = [m['rho'].tolist()]
    else:
        mi = int(extra[0]) if extra else 30
        tol = float(extra[1]) if len(extra) > 1 else 1e-4
        reg = float(extra[2]) if len(extra) > 2 else 0.0
        share = float(extra[3]) if len(extra) > 3 else 0.0
        m, hist, iters, stop = irmad(x, y, mi, tol, reg, share)
    _, z = mad_stats(m, x, y)
    print(json.dumps(dict(rho=m['rho'].tolist(), sigma=m['sigma'].tolist(), z=z[:2000].tolist(),
                          pchange=stats.chi2.cdf(z[:2000], p).tolist(), iterations=iters, history=hist, stop=stop)))
