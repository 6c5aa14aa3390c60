"""noether: exact Hessian spectra, gradients, Hessian-vector products and training
trajectories of fully connected networks, computed by the noether engine (Rust), and its
residual-checked Lanczos on your own matrix-vector product.

    import numpy as np, noether
    net = noether.Mlp([w1, w2], activation="relu")        # weights (out, in) define the widths
    r = noether.hessian(net, x, y, loss="ce", top=5, bottom=2)
    r["top"], r["bottom"], r["residuals"], r["converged"]
    vals = noether.lanczos(matvec, dim, top=3)             # matvec: (dim,) -> (dim,)

Activations are spelled as on the command line ("relu", "linear", "interp:0.3"), losses "ce",
"mse", "mix:w". Computations run in float64 unless every float input is float32 or
`precision="f32"` is given. Errors are ValueError (shapes, names, values) or OSError (files).
"""

from ._noether import Mlp, __version__, evaluate, gradient, hessian, hvp, lanczos, train

__all__ = ["Mlp", "evaluate", "gradient", "hessian", "hvp", "lanczos", "train", "__version__"]
