"""noether's Lanczos on your own operator, with numpy alone: the matrix-vector product is a
Python callable, as a PyTorch double-backward HVP would be (see README, "Python").

    python crates/noether-py/examples/lanczos_numpy.py
"""

import numpy as np

import noether

rng = np.random.default_rng(0)
n = 500
q, _ = np.linalg.qr(rng.normal(size=(n, n)))
spectrum = np.concatenate([[40.0, 25.0, 10.0], rng.uniform(-1, 1, n - 4), [-5.0]])
a = (q * spectrum) @ q.T  # a symmetric matrix with known eigenvalues


def matvec(v):
    return a @ v


r = noether.lanczos(matvec, n, top=3, bottom=1, tol=1e-10)
print("top   ", r["top"], "\nbottom", r["bottom"])
print("residuals", r["residuals"], "converged", r["converged"], f"({r['products']} products)")
assert np.allclose(r["top"], [40.0, 25.0, 10.0], rtol=1e-10)
assert np.allclose(r["bottom"], [-5.0], rtol=1e-10)
assert r["converged"].all()
