"""The Python bindings against an independent numpy implementation (tests/reference.py),
numpy.linalg.eigvalsh, and bad input."""

import os
import runpy
import sys

import numpy as np
import pytest

import noether

sys.path.insert(0, os.path.dirname(__file__))
import reference as ref  # noqa: E402


def problem(widths, bias, n=40, seed=0, scale=0.5):
    rng = np.random.default_rng(seed)
    ws = [rng.normal(size=(o, i)) * scale / np.sqrt(i) * 2 for i, o in zip(widths[:-1], widths[1:])]
    bs = [rng.normal(size=o) * 0.1 for o in widths[1:]] if bias else None
    x = rng.normal(size=(n, widths[0]))
    y = rng.integers(0, widths[-1], size=n)
    return ws, bs, x, y


def flat(ws, bs):
    return np.concatenate([w.ravel() for w in ws] + (list(bs) if bs else []))


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("activation,eps", [("relu", 1.0), ("interp:0.3", 0.3)])
def test_loss_and_gradient_match_numpy(loss, bias, activation, eps):
    widths = [5, 7, 6, 3]
    ws, bs, x, y = problem(widths, bias)
    net = noether.Mlp(ws, activation=activation, biases=bs)
    assert net.widths == widths and net.bias == bias and net.activation == activation
    theta = flat(ws, bs)
    np.testing.assert_array_equal(net.params, theta)
    value, grad = ref.loss_and_grad(theta, widths, bias, x, y, loss, eps)
    assert noether.evaluate(net, x, y, loss=loss)["loss"] == pytest.approx(value, rel=1e-13)
    g = noether.gradient(net, x, y, loss=loss)
    assert g.dtype == np.float64 and g.shape == (net.n_params,)
    np.testing.assert_allclose(g, grad, rtol=1e-11, atol=1e-14)
    gw, gb = net.split(g)
    assert [a.shape for a in gw] == [w.shape for w in ws]
    assert (gb is None) == (not bias)


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_full_spectrum_and_hvp_match_finite_differences(loss):
    widths = [4, 6, 3]
    ws, bs, x, y = problem(widths, True, n=30, seed=1)
    net = noether.Mlp(ws, activation="interp:0.5", biases=bs)
    theta = flat(ws, bs)
    h_fd = ref.fd_hessian(theta, widths, True, x, y, loss, eps=0.5)
    expected = np.linalg.eigvalsh(h_fd)
    r = noether.hessian(net, x, y, loss=loss, full=True)
    assert r["eigenvalues"].shape == (net.n_params,) and r["n_params"] == net.n_params
    assert np.all(np.diff(r["eigenvalues"]) >= 0), "ascending"
    scale = np.abs(expected).max()
    np.testing.assert_allclose(r["eigenvalues"], expected, atol=1e-7 * scale)
    v = np.random.default_rng(2).normal(size=net.n_params)
    np.testing.assert_allclose(noether.hvp(net, x, y, v, loss=loss), h_fd @ v, atol=1e-7 * scale * np.linalg.norm(v))


def test_lanczos_extremes_match_eigvalsh_of_the_dense_hessian():
    widths = [6, 10, 4]
    ws, _, x, y = problem(widths, False, n=50, seed=3)
    net = noether.Mlp(ws, activation="relu")
    r = noether.hessian(net, x, y, loss="ce", top=5, bottom=2)
    dense = noether.hessian(net, x, y, loss="ce", full=True)["eigenvalues"]
    theta = flat(ws, None)
    expected = np.linalg.eigvalsh(ref.fd_hessian(theta, widths, False, x, y, "ce"))
    np.testing.assert_allclose(dense, expected, atol=1e-7 * np.abs(expected).max())
    assert r["top"].shape == (5,) and r["bottom"].shape == (2,)
    assert np.all(np.diff(r["top"]) <= 0) and np.all(np.diff(r["bottom"]) >= 0)
    np.testing.assert_allclose(r["top"], dense[::-1][:5], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(r["bottom"], dense[:2], atol=1e-9 * dense.max())
    assert r["residuals"].shape == (7,) and r["converged"].all()
    assert r["residuals"].max() <= 1e-10 * np.abs(dense).max() * 10


def test_float32_inputs_compute_in_float32():
    widths = [5, 8, 3]
    ws, _, x, y = problem(widths, False, seed=4)
    net32 = noether.Mlp([w.astype(np.float32) for w in ws])
    x32 = x.astype(np.float32)
    g32 = noether.gradient(net32, x32, y)
    assert g32.dtype == np.float32
    g64 = noether.gradient(noether.Mlp([w.astype(np.float32).astype(np.float64) for w in ws]), x32.astype(np.float64), y)
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-6)
    assert noether.hessian(net32, x32, y, top=1)["precision"] == "f32"
    assert noether.hessian(net32, x32, y, top=1, precision="f64")["precision"] == "f64"
    # A float64 array with a float32 network: the arrays disagree, so float64.
    assert noether.gradient(net32, x, y).dtype == np.float64


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
def test_training_trajectory_matches_numpy(optimizer):
    widths = [4, 8, 8, 3]
    ws, _, x, y = problem(widths, False, n=32, seed=5)
    net = noether.Mlp(ws, activation="relu")
    lr, steps = (0.01 if optimizer == "adam" else 0.1), 60
    t = noether.train(net, x, y, loss="ce", optimizer=optimizer, lr=lr, steps=steps)
    losses, final = ref.train(flat(ws, None), widths, False, x, y, "ce", optimizer, lr, steps)
    assert t["loss"].shape == (steps + 1,) and t["accuracy"].shape == (steps + 1,)
    assert t["steps_completed"] == steps and t["diverged_at"] is None
    np.testing.assert_allclose(t["loss"], losses, rtol=1e-10)
    np.testing.assert_allclose(t["net"].params, final, rtol=1e-9, atol=1e-12)
    # C_l and delta_l at every step, from the weights and gradients numpy computes.
    assert t["conserved"].shape == (steps + 1, 2) and t["imbalance"].shape == (steps + 1, 2)
    w0 = [np.sum(w ** 2) for w in ws]
    np.testing.assert_allclose(t["conserved"][0], [w0[1] - w0[0], w0[2] - w0[1]], rtol=1e-12)
    wf = [np.sum(w ** 2) for w in ref.unpack(final, widths, False)[0]]
    np.testing.assert_allclose(t["conserved"][-1], [wf[1] - wf[0], wf[2] - wf[1]], rtol=1e-8)
    g0 = [np.sum(g ** 2) for g in ref.unpack(ref.loss_and_grad(flat(ws, None), widths, False, x, y)[1], widths, False)[0]]
    np.testing.assert_allclose(t["imbalance"][0], [g0[1] - g0[0], g0[2] - g0[1]], rtol=1e-10)
    assert t["net"].widths == widths and noether.evaluate(t["net"], x, y)["loss"] == pytest.approx(losses[-1], rel=1e-10)


def test_divergence_ends_the_run_and_says_so():
    widths = [4, 8, 3]
    ws, _, x, y = problem(widths, False, seed=6)
    t = noether.train(noether.Mlp(ws), x * 50, y, loss="mse", lr=50.0, steps=200)
    assert t["diverged_at"] is not None and t["steps_completed"] == t["diverged_at"] < 200
    assert len(t["loss"]) == t["diverged_at"] + 1 and not np.isfinite(t["loss"][-1])
    assert np.isfinite(t["loss"][:-1]).all()


def test_npz_round_trip_defines_the_network(tmp_path):
    widths = [3, 16, 2]
    ws, bs, x, y = problem(widths, True, seed=7)
    net = noether.Mlp([w.astype(np.float32) for w in ws], biases=[b.astype(np.float32) for b in bs])
    path = tmp_path / "init.npz"
    net.save_npz(str(path))
    with np.load(path) as z:
        assert sorted(z.files) == ["b1", "b2", "w1", "w2"] and z["w1"].dtype == np.float32
    back = noether.Mlp.from_npz(str(path), activation="relu")
    assert back.widths == widths and back.bias and repr(back).endswith("dtype=float32)")
    np.testing.assert_array_equal(back.params, net.params)
    np.savez(tmp_path / "np.npz", w1=ws[0], w2=ws[1])
    assert noether.Mlp.from_npz(str(tmp_path / "np.npz")).widths == widths


def test_callback_lanczos_matches_eigvalsh():
    rng = np.random.default_rng(8)
    a = rng.normal(size=(120, 120))
    a = (a + a.T) / 2
    calls = []

    def matvec(v):
        calls.append(1)
        return a @ v

    r = noether.lanczos(matvec, 120, top=3, bottom=2, tol=1e-10)
    exact = np.linalg.eigvalsh(a)
    np.testing.assert_allclose(r["top"], exact[::-1][:3], rtol=1e-10)
    np.testing.assert_allclose(r["bottom"], exact[:2], rtol=1e-10)
    assert r["converged"].all() and r["residuals"].max() <= 1e-10 * r["scale"]
    assert r["products"] == len(calls)
    rv = noether.lanczos(lambda v: a @ v, 120, top=1, vectors=True)
    u = rv["top_vectors"][0]
    np.testing.assert_allclose(a @ u, rv["top"][0] * u, atol=1e-8)


def test_callback_lanczos_on_a_network_hvp_equals_hessian():
    widths = [5, 9, 3]
    ws, _, x, y = problem(widths, False, seed=9)
    net = noether.Mlp(ws)
    r = noether.lanczos(lambda v: noether.hvp(net, x, y, v), net.n_params, top=2, bottom=1)
    h = noether.hessian(net, x, y, top=2, bottom=1)
    np.testing.assert_allclose(r["top"], h["top"], rtol=1e-9)
    np.testing.assert_allclose(r["bottom"], h["bottom"], atol=1e-9 * h["top"][0])


def test_callback_errors_propagate():
    with pytest.raises(ZeroDivisionError):
        noether.lanczos(lambda v: 1 / 0, 10, top=1)
    with pytest.raises(ValueError, match=r"matvec returned shape \(9,\)"):
        noether.lanczos(lambda v: v[:9], 10, top=1)
    with pytest.raises(ValueError, match="non-finite"):
        noether.lanczos(lambda v: v * np.nan, 10, top=1)
    with pytest.raises(ValueError, match="callable"):
        noether.lanczos(3, 10, top=1)
    with pytest.raises(ValueError, match="dimension"):
        noether.lanczos(lambda v: v, 3, top=5)


def test_the_numpy_example_runs():
    runpy.run_path(os.path.join(os.path.dirname(__file__), "..", "examples", "lanczos_numpy.py"), run_name="__main__")


BAD = [
    (lambda n, x, y: noether.Mlp([np.ones((4, 3)), np.ones((2, 5))]), "do not chain"),
    (lambda n, x, y: noether.Mlp([np.ones(3)]), "a weight matrix is"),
    (lambda n, x, y: noether.Mlp([]), "empty"),
    (lambda n, x, y: noether.Mlp([np.full((2, 3), np.nan)]), "not finite"),
    (lambda n, x, y: noether.Mlp([np.ones((2, 3))], biases=[np.ones(3)]), r"biases\[0\] has shape"),
    (lambda n, x, y: noether.Mlp([np.ones((2, 3))], activation="tanh"), "unknown activation"),
    (lambda n, x, y: noether.hessian(n, x, y, loss="hinge", top=1), "unknown loss"),
    (lambda n, x, y: noether.hessian(n, x, y), "nothing to compute"),
    (lambda n, x, y: noether.hessian(n, x, y, top=1, method="qr"), "method"),
    (lambda n, x, y: noether.hessian(n, x, y, top=1, precision="f16"), "precision must be f32 or f64"),
    (lambda n, x, y: noether.gradient(n, x[:, :3], y), "input width"),
    (lambda n, x, y: noether.gradient(n, x[0], y), r"x has shape \(5,\)"),
    (lambda n, x, y: noether.gradient(n, x, y[:-1]), "samples"),
    (lambda n, x, y: noether.gradient(n, x, y + 0.5), "integer class labels"),
    (lambda n, x, y: noether.gradient(n, x, y + 3), "outside 0..3"),
    (lambda n, x, y: noether.gradient(n, x, -y - 1), "negative"),
    (lambda n, x, y: noether.gradient(n, np.where(x > 1, np.nan, x), y), "not finite"),
    (lambda n, x, y: noether.gradient(n, x * 1e200, y, loss="mse"), "loss at these parameters is inf"),
    (lambda n, x, y: noether.hvp(n, x, y, np.ones(3)), "P = "),
    (lambda n, x, y: noether.hvp(n, x, y, np.full(n.n_params, np.inf)), "not finite"),
    (lambda n, x, y: noether.train(n, x, y, lr=0.0), "learning rate must be a positive finite number"),
    (lambda n, x, y: noether.train(n, x, y, optimizer="rmsprop"), "unknown optimizer"),
    (lambda n, x, y: noether.train(n, x, y, optimizer="momentum", momentum=1.5), "invalid optimizer"),
    (lambda n, x, y: noether.hessian(n, x, y, full=True, memory_gib=1e-9), "memory_gib"),
    (lambda n, x, y: n.split(np.ones(2)), "P = "),
    (lambda n, x, y: noether.gradient(n, [["a"]], y), "x must be an array of numbers"),
]


@pytest.mark.parametrize("call,message", BAD, ids=[m for _, m in BAD])
def test_bad_input_raises_value_error_with_the_cli_message(call, message):
    ws, _, x, y = problem([5, 6, 3], False, seed=10)
    with pytest.raises(ValueError, match=message) as e:
        call(noether.Mlp(ws), x, y)
    assert "\n" not in str(e.value), "one line"


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="file not found"):
        noether.Mlp.from_npz(str(tmp_path / "nope.npz"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz"):
        noether.Mlp.from_npz(str(tmp_path / "junk.npz"))


def test_the_gil_is_released_during_compute():
    """A Python thread keeps running while a long Hessian computation runs in another."""
    import threading
    import time

    widths = [30, 60, 10]
    ws, _, x, y = problem(widths, False, n=400, seed=11)
    net = noether.Mlp(ws)
    ticks = []
    done = threading.Event()

    def ticker():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    th = threading.Thread(target=ticker)
    th.start()
    start = time.perf_counter()
    noether.hessian(net, x, y, full=True)
    end = time.perf_counter()
    done.set()
    th.join()
    during = [t for t in ticks if start < t < end]
    # With the GIL held the ticker could not run at all while the call lasted.
    assert end - start < 0.02 or len(during) >= 3, (end - start, len(during))
