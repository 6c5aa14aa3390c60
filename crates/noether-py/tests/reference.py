"""An independent numpy implementation of what noether computes, for the tests to compare
against: the forward pass, the losses with noether's normalisation (MSE = mean over n*K
entries without 1/2, PyTorch's MSELoss; CE = mean over n), backpropagation, a Hessian by
central differences of the analytic gradient, and the optimisers with PyTorch semantics."""

import numpy as np


def act(z, eps):
    """sigma_eps(z) = (1 - eps) z + eps relu(z) and its derivative (relu'(0) = 0)."""
    return (1 - eps) * z + eps * np.maximum(z, 0), (1 - eps) + eps * (z > 0)


def unpack(theta, widths, bias):
    """Flat theta (W_1..W_L row-major (out, in), then b_1..b_L) -> weights, biases."""
    ws, off = [], 0
    for i, o in zip(widths[:-1], widths[1:]):
        ws.append(theta[off:off + o * i].reshape(o, i))
        off += o * i
    bs = []
    if bias:
        for o in widths[1:]:
            bs.append(theta[off:off + o])
            off += o
    assert off == len(theta)
    return ws, bs


def loss_and_grad(theta, widths, bias, x, y, loss="ce", eps=1.0):
    ws, bs = unpack(theta, widths, bias)
    n, k = x.shape[0], widths[-1]
    a, acts, derivs = x, [x], []
    for l, w in enumerate(ws):
        z = a @ w.T + (bs[l] if bias else 0)
        if l < len(ws) - 1:
            a, s = act(z, eps)
            acts.append(a)
            derivs.append(s)
        else:
            a = z
    f = a
    onehot = np.eye(k)[y]
    if loss == "ce":
        m = f - f.max(axis=1, keepdims=True)
        logp = m - np.log(np.exp(m).sum(axis=1, keepdims=True))
        value = -logp[np.arange(n), y].mean()
        delta = (np.exp(logp) - onehot) / n
    elif loss == "mse":
        value = ((f - onehot) ** 2).mean()
        delta = 2 * (f - onehot) / (n * k)
    else:
        raise ValueError(loss)
    gws, gbs = [None] * len(ws), [None] * len(ws)
    for l in reversed(range(len(ws))):
        gws[l] = delta.T @ acts[l]
        gbs[l] = delta.sum(axis=0)
        if l > 0:
            delta = (delta @ ws[l]) * derivs[l - 1]
    grad = np.concatenate([g.ravel() for g in gws] + ([g for g in gbs] if bias else []))
    return value, grad


def fd_hessian(theta, widths, bias, x, y, loss="ce", eps=1.0, h=1e-5):
    """Central differences of the analytic gradient, symmetrised."""
    p = len(theta)
    hess = np.empty((p, p))
    for i in range(p):
        e = np.zeros(p)
        e[i] = h
        gp = loss_and_grad(theta + e, widths, bias, x, y, loss, eps)[1]
        gm = loss_and_grad(theta - e, widths, bias, x, y, loss, eps)[1]
        hess[:, i] = (gp - gm) / (2 * h)
    return (hess + hess.T) / 2


def train(theta, widths, bias, x, y, loss, optimizer, lr, steps, eps=1.0, beta=0.9, betas=(0.9, 0.999), adam_eps=1e-8):
    """Losses at t = 0..steps and the final theta, torch.optim.SGD / Adam semantics."""
    theta = theta.copy()
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    losses = []
    for t in range(steps + 1):
        value, g = loss_and_grad(theta, widths, bias, x, y, loss, eps)
        losses.append(value)
        if t == steps:
            break
        if optimizer == "gd":
            theta -= lr * g
        elif optimizer == "momentum":
            m = g.copy() if t == 0 else beta * m + g
            theta -= lr * m
        elif optimizer == "adam":
            b1, b2 = betas
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            denom = np.sqrt(v) / np.sqrt(1 - b2 ** (t + 1)) + adam_eps
            theta -= (lr / (1 - b1 ** (t + 1))) * m / denom
    return np.array(losses), theta
