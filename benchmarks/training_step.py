"""Speed where users live: one hybrid training step, and a batch-of-1 forward + backward.

    python -m benchmarks.training_step [--n 4 8 12] [--repeats 7] [--batch1 4 8]

**Training step** (batch 32, Adam, cross-entropy, 2 classes, 30 features):
``Linear(30→n) → RY(h_i) angle embedding + 2 layers of RX, RY, RZ per qubit and a CNOT ring
→ ⟨Z_i⟩ → Linear(n→2)``. Contenders, timed interleaved with torch's default threading, each
sample a burst of ``timing.BURST`` steps back to back as in a training loop (per-step times
printed):

* ``qdl``: the model as a user writes it, ``torch.nn.Sequential`` around
  :class:`qdl.nn.QuantumLayer` of ``angle_embedding(n).extend(hardware_efficient(...))``,
  ``torch.optim.Adam``;
* ``mlp``: a tanh MLP ``30→h→2`` with ``h`` picked so that its parameter count is the
  closest to the hybrid model's (``39n + 2``), same optimizer and loss;
* ``tcng``: tensorcircuit-ng's compiled step: the whole step (forward, ``jax.grad``, optax
  Adam update) under one ``jax.jit``, the circuit ``vmap``-ed over the batch. Its compile time
  (first call) is reported apart. Before timing, its loss and gradients are checked against
  QDL's on the same weights and data.

**Batch of 1**: workload W (see ``workload_w.py``) with ``B=1, L=4``: QDL (``qdl.expval``
and ``QuantumLayer``) against every peer that is installed (Qulacs is the one to beat).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from peers import JIT_PEERS, NOTES, PEERS, PeerStep, build  # noqa: E402
from timing import Remote, burst, close_all, measure, medians, per_step  # noqa: E402

import qdl  # noqa: E402
from qdl.nn import QuantumLayer  # noqa: E402
from qdl.templates import angle_embedding, hardware_efficient  # noqa: E402

FEATURES, CLASSES, BATCH, LAYERS = 30, 2, 32, 2
ROTATIONS = ("x", "y", "z")


def hybrid_params(n: int) -> int:
    """Parameter count of the hybrid model: 31n + 6n (circuit) + 2n + 2."""
    return (FEATURES + 1) * n + LAYERS * len(ROTATIONS) * n + (n + 1) * CLASSES


def mlp_width(n: int) -> int:
    """Hidden width of the tanh MLP 30→h→2 whose parameter count is closest to the hybrid's."""
    per_unit = FEATURES + 1 + CLASSES
    return max(1, round((hybrid_params(n) - CLASSES) / per_unit))


def qdl_model(n: int) -> torch.nn.Sequential:
    """The hybrid model built the way the README's Quickstart and qdl.templates suggest."""
    circuit = angle_embedding(n, "y").extend(hardware_efficient(
        n, layers=LAYERS, rotations=ROTATIONS, entanglement="ring", final_rotations=False))
    layer = QuantumLayer(circuit, [f"Z{i}" for i in range(n)],
                         inputs=[f"x{i}" for i in range(n)])
    return torch.nn.Sequential(torch.nn.Linear(FEATURES, n), layer,
                               torch.nn.Linear(n, CLASSES))


def mlp_model(n: int) -> torch.nn.Sequential:
    """The parameter-matched classical baseline."""
    h = mlp_width(n)
    return torch.nn.Sequential(torch.nn.Linear(FEATURES, h), torch.nn.Tanh(),
                               torch.nn.Linear(h, CLASSES))


def data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed batch: standard-normal features, random labels."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, FEATURES, generator=g), torch.randint(0, CLASSES, (BATCH,),
                                                                    generator=g)


def torch_step(model: torch.nn.Module) -> Callable[[], None]:
    """One Adam step of ``model`` on the fixed batch (what a user's training loop does)."""
    x, y = data()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


# --------------------------------------------------------------------------- tensorcircuit-ng


def _tc_circuit(tc: Any, n: int) -> Callable[[Any, Any], Any]:
    """The hybrid model's circuit for one sample: ``f(h (n,), q (LAYERS, n, 3)) -> (n,)``."""
    K = tc.backend

    def f(h: Any, q: Any) -> Any:
        c = tc.Circuit(n)
        for i in range(n):
            c.ry(i, theta=h[i])
        for layer in range(LAYERS):
            for i in range(n):
                c.rx(i, theta=q[layer, i, 0])
                c.ry(i, theta=q[layer, i, 1])
                c.rz(i, theta=q[layer, i, 2])
            for i in range(n):
                c.cnot(i, (i + 1) % n)
        return K.stack([K.real(c.expectation_ps(z=[i])) for i in range(n)])

    return f


def _adam(jnp: Any, lr: float = 1e-2, b1: float = 0.9, b2: float = 0.999,
          eps: float = 1e-8) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Adam in jax (init, update), used when optax is missing; same maths as torch's."""
    import jax

    def init(params: Any) -> Any:
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return (zeros, zeros, jnp.zeros((), jnp.int32))

    def update(grads: Any, state: Any, params: Any) -> tuple[Any, Any]:
        m, v, t = state
        t = t + 1
        m = jax.tree_util.tree_map(lambda a, g: b1 * a + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda a, g: b2 * a + (1 - b2) * g * g, v, grads)
        c1, c2 = 1 - b1**t, 1 - b2**t
        new = jax.tree_util.tree_map(
            lambda p, a, b: p - lr * (a / c1) / (jnp.sqrt(b / c2) + eps), params, m, v)
        return new, (m, v, t)

    return init, update


def _optimizer(jnp: Any) -> tuple[Callable[..., Any], Callable[..., Any], str]:
    """optax.adam if installed, else the hand-written one: ``(init, update, name)``."""
    try:
        import optax
    except ImportError:
        return (*_adam(jnp), "hand-written adam")
    opt = optax.adam(1e-2)

    def update(grads: Any, state: Any, params: Any) -> tuple[Any, Any]:
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return opt.init, update, "optax.adam"


def _jax_params(model: torch.nn.Sequential, n: int, jnp: Any) -> dict[str, Any]:
    """The torch hybrid model's weights as a jax pytree (so both start from the same point)."""
    lin1, layer, lin2 = model
    names = layer.weight_names
    q = torch.stack([layer.weights[names.index(f"w{a}_{i}_{k}")]
                     for a in range(LAYERS) for i in range(n) for k in range(len(ROTATIONS))])
    arr = lambda t: jnp.asarray(t.detach().numpy())  # noqa: E731
    return {"w1": arr(lin1.weight.T), "b1": arr(lin1.bias),
            "q": arr(q.reshape(LAYERS, n, len(ROTATIONS))), "w2": arr(lin2.weight.T),
            "b2": arr(lin2.bias)}


def tcng_step(n: int, model: torch.nn.Sequential) -> tuple[PeerStep | None, dict[str, Any]]:
    """tensorcircuit-ng's jitted training step from ``model``'s weights, plus a check dict
    (compile ms, optimizer, |loss - qdl loss|, max |grad - qdl grad|)."""
    try:
        from peers import _import_tcng

        tc = _import_tcng("complex64")
        import jax
        import jax.numpy as jnp
    except Exception as exc:
        return None, {"skipped": f"tensorcircuit-ng / jax not importable: {exc!r}"}
    circuit = jax.vmap(_tc_circuit(tc, n), in_axes=(0, None))
    init, update, opt_name = _optimizer(jnp)

    def loss_fn(p: Any, x: Any, y: Any) -> Any:
        z = circuit(x @ p["w1"] + p["b1"], p["q"])
        logits = z @ p["w2"] + p["b2"]
        logp = jax.nn.log_softmax(logits)
        return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()

    grad_fn = jax.value_and_grad(loss_fn)

    @jax.jit
    def train_step(p: Any, s: Any, x: Any, y: Any) -> Any:
        loss, g = grad_fn(p, x, y)
        p, s = update(g, s, p)
        return p, s, loss

    xt, yt = data()
    x, y = jnp.asarray(xt.numpy()), jnp.asarray(yt.numpy())
    params = _jax_params(model, n, jnp)
    info = {"optimizer": opt_name, **_check_against_torch(model, grad_fn, params, x, y)}
    state = [params, init(params)]
    t0 = time.perf_counter()
    jax.block_until_ready(train_step(state[0], state[1], x, y))
    info["compile_ms"] = (time.perf_counter() - t0) * 1e3

    def step() -> None:
        p, s, loss = train_step(state[0], state[1], x, y)
        jax.block_until_ready(loss)
        state[0], state[1] = p, s

    return PeerStep("tcng", step, lambda: None, opt_name), info


def tcng_remote(n: int) -> PeerStep:
    """:func:`tcng_step` on the hybrid model's seeded weights, its check dict in ``extra``
    (a picklable factory for :class:`timing.Remote`)."""
    torch.manual_seed(0)
    peer, info = tcng_step(n, qdl_model(n))
    if peer is None:
        raise RuntimeError(info["skipped"])
    peer.extra.update(info)
    return peer


def _check_against_torch(model: torch.nn.Sequential, grad_fn: Callable[..., Any],
                         params: dict[str, Any], x: Any, y: Any) -> dict[str, float]:
    """Loss and gradient differences between tc-ng's and QDL's model at the same weights."""
    xt, yt = data()
    model.zero_grad()
    loss_t = torch.nn.functional.cross_entropy(model(xt), yt)
    loss_t.backward()
    loss_j, g = grad_fn(params, x, y)
    ref = _jax_params(_grads_as_model(model), len(model[1].observables), np)
    diff = max(float(np.max(np.abs(np.asarray(g[k]) - ref[k]))) for k in ref)
    model.zero_grad()
    return {"loss_diff": abs(float(loss_j) - float(loss_t.detach())), "grad_diff": diff}


def _grads_as_model(model: torch.nn.Sequential) -> torch.nn.Sequential:
    """A deep copy of ``model`` whose parameters hold the gradients (for :func:`_jax_params`)."""
    import copy

    clone = copy.deepcopy(model)
    with torch.no_grad():
        for p_clone, p in zip(clone.parameters(), model.parameters(), strict=True):
            p_clone.copy_(p.grad)
    return clone


# --------------------------------------------------------------------------- runs

def training_rows(sizes: list[int], repeats: int) -> list[dict[str, Any]]:
    """Time qdl / mlp / tcng training steps per size; return one dict per size."""
    rows = []
    for n in sizes:
        torch.manual_seed(0)
        hybrid = qdl_model(n)
        contenders: dict[str, Callable[[], None]] = {
            "qdl": torch_step(hybrid), "mlp": torch_step(mlp_model(n))}
        try:  # in a process of its own: JAX's threads slowed torch's steps next to them
            tc_peer = Remote(tcng_remote, n, threads=None)
            contenders["tcng"] = tc_peer
            tc_info = tc_peer.extra
        except RuntimeError as exc:
            tc_info = {"skipped": str(exc)}
        try:
            med = per_step(medians(measure({k: burst(f) for k, f in contenders.items()},
                                           repeats=repeats, warmup=2, threads=None)))
        finally:
            close_all(contenders)
        row = {"n": n, "ms": med, "params": hybrid_params(n),
               "mlp_params": sum(p.numel() for p in mlp_model(n).parameters()),
               "tcng": tc_info, "threads": torch.get_num_threads()}
        rows.append(row)
        print(_training_line(row), flush=True)
    return rows


def _training_line(row: dict[str, Any]) -> str:
    ms, tc = row["ms"], row["tcng"]
    text = (f"n={row['n']:2d} ({row['params']} params, mlp {row['mlp_params']}): "
            f"qdl {ms['qdl']:.2f} ms, mlp {ms['mlp']:.3f} ms, qdl/mlp {ms['qdl'] / ms['mlp']:.1f}x")
    if "tcng" in ms:
        text += (f", tc-ng {ms['tcng']:.2f} ms (compile {tc['compile_ms'] / 1e3:.1f} s, "
                 f"|dloss| {tc['loss_diff']:.1e}, |dgrad| {tc['grad_diff']:.1e}), "
                 f"qdl/tc-ng {ms['qdl'] / ms['tcng']:.2f}x")
    else:
        text += f", tc-ng skipped ({tc.get('skipped', '')})"
    return text


def batch1_rows(sizes: list[int], repeats: int, L: int = 4) -> list[dict[str, Any]]:
    """Batch-of-1 forward + backward of workload W: QDL against every installed peer."""
    from workload_w import make_qdl, make_qdl_layer

    rows = []
    for n in sizes:
        contenders: dict[str, PeerStep] = {"qdl_adjoint": make_qdl(n, L, 1)}
        layer = make_qdl_layer(n, L, 1)
        if layer is not None:
            contenders["qdl_layer"] = layer
        compile_ms = {}
        for name in PEERS:
            try:  # each peer in a process of its own (timing.Remote)
                peer = Remote(build, name, n, L, 1, "complex64", threads=None)
            except RuntimeError as exc:
                NOTES[name] = str(exc)
                continue
            contenders[name] = peer
            if name in JIT_PEERS:
                compile_ms[name] = peer.extra["compile_ms"]
        try:
            med = per_step(medians(measure({k: burst(f) for k, f in contenders.items()},
                                           repeats=repeats, warmup=3, threads=None)))
        finally:
            close_all(contenders)
        rows.append({"n": n, "L": L, "ms": med, "compile_ms": compile_ms})
        q = med.get("qdl_layer", med["qdl_adjoint"])
        print(f"batch 1, n={n}: " + ", ".join(
            f"{k} {v:.3f} ms ({v / q:.2f}x qdl)" if not k.startswith("qdl") else f"{k} {v:.3f} ms"
            for k, v in med.items()), flush=True)
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run both studies and print them; returns the raw results."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[4, 8, 12])
    ap.add_argument("--batch1", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    print(f"torch {torch.__version__}, qdl {qdl.__version__}, "
          f"{torch.get_num_threads()} torch threads (default)")
    out = {"training": training_rows(args.n, args.repeats),
           "batch1": batch1_rows(args.batch1, max(args.repeats, 9))}
    return out


if __name__ == "__main__":
    main()
