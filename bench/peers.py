"""The strongest vectorised peers of the kernel's GLR gradient, and the machine's limits.

:class:`NumpyPeer` and :class:`TorchPeer` compute the estimator of ``MLP.gradient``
(Algorithm 1 with Eq. 5 of the paper: the mean over the samples and the K replications of
L * x_b * psi(r_a), psi(r) = r / sigma^2) for a sigmoid network with Gaussian noise on
every level and the softmax cross-entropy of the outputs, with what a careful
vectorised implementation would do and the kernel does too:

* float32 throughout (the numpy peer adds up the tiles' sums in float64, as the kernel does its
  chunks'; the torch peer keeps float32 accumulators);
* the first-level trick: W0 x + b0 once per sample, so level 0 costs one add per unit
  and replication, and its weight gradient is x outer the replication-summed
  L * psi(r^(1)) (one outer product per sample, not per replication);
* the bias as a column of ones beside each level's input, so one product gives the
  pre-activation with its bias and one the weight and bias gradient of a level;
* sigma folded into the noise (r = sigma z drawn directly, psi = r / sigma^2 applied
  once to the sums), all arithmetic in place in buffers reused from tile to tile; the numpy
  peer holds its arrays unit-major, (units, rows), and its pre-activations negated, so that
  the sigmoid takes three passes (:class:`NumpyPeer`);
* the (sample, replication) pairs cut into tiles of about ``chunk`` rows that stay in
  cache; the numpy peer spreads the tiles over Python threads (numpy and BLAS release
  the GIL; BLAS itself is kept to one thread so that the threads do not oversubscribe
  the cores), the torch peer hands whole tiles to torch's intra-op threads.

The noise of a tile is drawn from its own generator keyed by (seed, first sample, first
replication): same seed and chunk, same bits, whatever the thread count.  That noise is
not the kernel's (Philox), so the peers agree with the kernel in distribution; fed the
kernel's own noise (``noise=``, from ``MLP.sample_noise``) they give its gradient to float32
accuracy.  test_bench_peers.py checks both.

The machine's limits (:func:`normals_per_second`, :func:`kernel_noise_per_second`,
:func:`sgemm_flops_per_second`, :func:`exp_per_second`) and :func:`kernel_work`, the
work of one kernel call, give the fraction of each limit the kernel reaches.
"""
from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

NORMAL_METHODS = ("box_muller", "ziggurat")


def _check_model(model):
    """The peers cover the benchmarked networks: sigmoid levels of slope 1, one Gaussian noise, cross-entropy."""
    if not model.noisy or any(noise.name != "gaussian" for noise in model.noises):
        raise ValueError("the peers need Gaussian noise on every level")
    if len({noise.scale for noise in model.noises}) != 1:
        raise ValueError("the peers need one noise scale for all levels")
    if any(act.name != "sigmoid" or act.slope != 1.0 for act in model.activations):
        raise ValueError("the peers need sigmoid activations of slope 1 on every level")
    if model.loss != "cross_entropy":
        raise ValueError("the peers need the cross-entropy loss")
    return float(model.noises[0].scale)


def fill_normals(rng, out, scale, method="box_muller"):
    """Fill the float32 array ``out`` with N(0, scale^2) draws from the numpy Generator ``rng``.

    ``"box_muller"``: Box & Muller (1958), two normals per pair of uniforms (u1, u2):
    sqrt(-2 scale^2 log u1) (cos 2 pi u2, sin 2 pi u2), with numpy's SIMD log, sqrt, cos and
    sin.  The uniforms are float32 with 23 random bits, made from the generator's raw 64-bit
    words (``random_raw``, two 32-bit halves) by the exponent trick: bits >> 9 | 0x3F800000
    is a float f in [1, 2), so u1 = 2 - f lies in (0, 1] (a finite log) and 2 pi f is the
    angle plus 2 pi.  That is 1.6x faster than ``rng.random(dtype=np.float32)`` (one call of
    the generator per float).
    ``"ziggurat"``: numpy's float32 ``standard_normal`` (the ziggurat method), times scale.
    """
    flat = out.reshape(-1)
    if method == "ziggurat":
        rng.standard_normal(out=flat, dtype=np.float32)
        flat *= np.float32(scale)
        return out
    if method != "box_muller":
        raise ValueError(f"method must be one of {NORMAL_METHODS}, got {method!r}")
    half = flat.size // 2
    bits = rng.bit_generator.random_raw(half).view(np.uint32)          # 2 half words
    bits >>= np.uint32(9)
    bits |= np.uint32(0x3F800000)
    uniforms = bits.view(np.float32)                                    # [1, 2)
    radius, angle = uniforms[:half], uniforms[half:]
    np.subtract(np.float32(2.0), radius, out=radius)                    # u1 in (0, 1]
    np.log(radius, out=radius)
    radius *= np.float32(-2.0 * scale * scale)
    np.sqrt(radius, out=radius)
    angle *= np.float32(2.0 * np.pi)                                    # 2 pi u2 + 2 pi
    np.cos(angle, out=flat[:half])
    np.sin(angle, out=flat[half:2 * half])
    flat[:half] *= radius
    flat[half:2 * half] *= radius
    if flat.size % 2:
        flat[-1] = rng.standard_normal(dtype=np.float32) * np.float32(scale)
    return out


def _sigmoid_of_negated(v):
    """sigmoid(u) = 1 / (1 + exp(v)) in place, from v = -u (three passes)."""
    np.exp(v, out=v)
    v += np.float32(1.0)
    np.reciprocal(v, out=v)
    return v


def tiles(n_samples, replications, chunk):
    """The work tiles (first sample, samples, first replication, replications) of about ``chunk``
    rows: a chunk of one sample's replications when K >= chunk, else whole samples."""
    if replications >= chunk:
        return [(n, 1, first, min(chunk, replications - first))
                for n in range(n_samples) for first in range(0, replications, chunk)]
    per_tile = max(1, chunk // replications)
    return [(n, min(per_tile, n_samples - n), 0, replications) for n in range(0, n_samples, per_tile)]


def _finish(X, first_sums, upper_sums, loss_sum, replications, scale):
    """(grad_weights, grad_biases, loss) from the sums over the noise: sum_k L_k r^(1)_k per sample
    and sum_{n,k} L r (x) [x; 1] per level >= 1, divided by sigma^2 (psi = r / sigma^2) and N K."""
    n = X.shape[0]
    first_score = first_sums / (scale * scale * replications)          # (N, n1): E_k[L psi(r^(1))]
    grad_w = [first_score.T @ np.asarray(X, dtype=np.float64) / n]
    grad_b = [first_score.sum(axis=0) / n]
    for total in upper_sums:
        total = total / (scale * scale * n * replications)
        grad_w.append(total[:, :-1])
        grad_b.append(total[:, -1])
    return grad_w, grad_b, loss_sum / (n * replications)


class NumpyPeer:
    """The GLR gradient of ``MLP.gradient`` in numpy (float32, first-level trick, tiles in cache,
    Python threads).

    The arrays of a tile are unit-major, (units, rows), the kernel's lanes layout: every
    element-wise step runs over contiguous memory (numpy's SIMD loops), and [x; 1], a level's
    input with a row of ones below it, is one contiguous array whose top rows the level
    below writes in place.

    Parameters
    ----------
    model : glrnet.MLP
        Sigmoid levels, Gaussian noise of one scale, cross-entropy (the benchmarked networks).
    threads : int
        Python threads splitting the tiles (each runs BLAS on one thread).
    chunk : int
        Rows (sample, replication) per tile.
    normals : str
        ``"box_muller"`` or ``"ziggurat"`` (:func:`fill_normals`).

    Calling it, ``peer(X, y, replications, seed=0)``, returns (grad_weights, grad_biases,
    mean loss) in float64, the shapes of ``model.weights`` and ``model.biases``.
    """

    def __init__(self, model, *, threads=2, chunk=2048, normals="box_muller"):
        self.scale = _check_model(model)
        if normals not in NORMAL_METHODS:
            raise ValueError(f"normals must be one of {NORMAL_METHODS}, got {normals!r}")
        if int(threads) < 1 or int(chunk) < 1:
            raise ValueError(f"threads and chunk must be positive, got {threads} and {chunk}")
        self.threads, self.chunk, self.normals = int(threads), int(chunk), normals
        self.widths = list(model.layer_sizes[1:])
        # The pre-activations are held negated, v = -u = -(W x + b) + r~ with r~ = -r, which is
        # noise of the same (symmetric) distribution: the sigmoid 1 / (1 + exp(v)) then needs no
        # negation pass, and the sums of L r~ change sign once at the end.
        self.first_weight = -np.asarray(model.weights[0], dtype=np.float32)
        self.first_bias = -np.asarray(model.biases[0], dtype=np.float32)
        # levels >= 1: -[W, b], so that -[W, b] @ [x; 1] = -(W x + b)
        self.upper = [-np.ascontiguousarray(np.hstack([w, b[:, None]]), dtype=np.float32)
                      for w, b in zip(model.weights[1:], model.biases[1:])]
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def close(self):
        if self._pool is not None:
            self._pool.shutdown()

    def _buffers(self, rows):
        """Per-thread buffers: the noise of all levels, [x^(l); 1] for the inputs of levels >= 1, the
        output and its exp, and the weighted scores."""
        widths = self.widths
        return {"noise": np.empty(rows * sum(widths), dtype=np.float32),
                "inputs": [np.empty((w + 1) * rows, dtype=np.float32) for w in widths[:-1]],
                "output": np.empty(widths[-1] * rows, dtype=np.float32),
                "exp": np.empty(widths[-1] * rows, dtype=np.float32),
                "weighted": np.empty(max(widths[1:]) * rows, dtype=np.float32)}

    def _tile(self, tile, first_pre, y, seed, given, buffers, first_sums, upper_sums):
        """One tile: noise (drawn, or copied from ``given``), forward pass, loss and the sums of Eq. 5;
        returns the tile's loss sum."""
        sample, samples, first, count = tile
        rows, widths = samples * count, self.widths
        noise_all = buffers["noise"][:rows * sum(widths)]
        offsets = np.cumsum([0] + [rows * w for w in widths])
        noise = [noise_all[a:b].reshape(w, rows) for a, b, w in zip(offsets[:-1], offsets[1:], widths)]
        if given is None:
            fill_normals(np.random.Generator(np.random.SFC64([seed, sample, first])), noise_all, self.scale,
                         self.normals)
        else:
            for r, level in zip(noise, given):                 # r~ = -r
                np.negative(level[sample:sample + samples, first:first + count].transpose(2, 0, 1),
                            out=r.reshape(-1, samples, count))
        inputs = [buffer[:(w + 1) * rows].reshape(w + 1, rows) for buffer, w in zip(buffers["inputs"], widths)]
        for x in inputs:
            x[-1] = 1.0                                   # the row of ones (the buffer is laid out per tile)
        levels = [x[:-1] for x in inputs] + [buffers["output"][:widths[-1] * rows].reshape(widths[-1], rows)]
        # level 0: v = -(W0 x + b0) + r~, the product shared by the sample's replications
        np.add(noise[0].reshape(-1, samples, count), first_pre[sample:sample + samples].T[:, :, None],
               out=levels[0].reshape(-1, samples, count))
        _sigmoid_of_negated(levels[0])
        for l, weights in enumerate(self.upper, start=1):
            np.matmul(weights, inputs[l - 1], out=levels[l])
            levels[l] += noise[l]
            _sigmoid_of_negated(levels[l])
        # cross-entropy of the outputs x in (0, 1): log sum_c exp(x_c) - x_y (no overflow to guard)
        out = levels[-1]
        exp = buffers["exp"][:out.size].reshape(out.shape)
        np.exp(out, out=exp)
        loss = np.log(exp.sum(axis=0))
        loss -= out.reshape(-1, samples, count)[y[sample:sample + samples], np.arange(samples)].reshape(-1)
        # Eq. 5: sum_k L_k r~^(1)_k per sample; sum_k L_k r~^(l)_k [x^(l); 1]_k for l >= 1 (r~ = -r)
        per_sample = np.matmul(noise[0].reshape(-1, samples, count).transpose(1, 0, 2),
                               loss.reshape(samples, count, 1))
        first_sums[sample:sample + samples] += per_sample[:, :, 0]
        for l in range(1, len(widths)):
            weighted = buffers["weighted"][:widths[l] * rows].reshape(widths[l], rows)
            np.multiply(noise[l], loss, out=weighted)
            upper_sums[l - 1] += weighted @ inputs[l - 1].T
        return float(loss.sum(dtype=np.float64))

    def _work(self, share, first_pre, y, seed, given):
        """The tiles of one thread into its own sums."""
        first_sums = np.zeros(first_pre.shape, dtype=np.float64)
        upper_sums = [np.zeros(w.shape, dtype=np.float64) for w in self.upper]
        rows = max(samples * count for _, samples, _, count in share) if share else 1
        buffers = self._buffers(rows)
        loss_sum = 0.0
        for tile in share:
            loss_sum += self._tile(tile, first_pre, y, seed, given, buffers, first_sums, upper_sums)
        return first_sums, upper_sums, loss_sum

    def __call__(self, X, y, replications, *, seed=0, noise=None):
        """(grad_weights, grad_biases, loss); ``noise``: one (N, K, width) float32 array per level, as
        ``MLP.sample_noise`` returns, in place of the peer's own draws (to compare the arithmetic)."""
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        y = np.asarray(y, dtype=np.intp)
        first_pre = X32 @ self.first_weight.T + self.first_bias          # -(W0 x + b0), once per sample
        work = tiles(X32.shape[0], int(replications), self.chunk)
        shares = [work[t::self.threads] for t in range(self.threads)]    # static: fixed summation order
        with threadpool_limits(1, user_api="blas"):          # a process-wide setting: set here, once
            if self._pool is None:
                parts = [self._work(shares[0], first_pre, y, seed, noise)]
            else:
                parts = list(self._pool.map(lambda share: self._work(share, first_pre, y, seed, noise), shares))
        first_sums = -sum(part[0] for part in parts)                    # sums of L r = -(sums of L r~)
        upper_sums = [-sum(part[1][l] for part in parts) for l in range(len(self.upper))]
        loss_sum = sum(part[2] for part in parts)
        return _finish(X, first_sums, upper_sums, loss_sum, replications, self.scale)


def torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


class TorchPeer:
    """The same estimator as :class:`NumpyPeer` in torch (float32), one Python thread handing whole
    tiles to ``threads`` intra-op threads (``torch.set_num_threads``); the noise from
    ``Tensor.normal_`` on a generator keyed by (seed, tile), the sums accumulated in place
    (``addmm_``)."""

    def __init__(self, model, *, threads=2, chunk=16384):
        import torch

        self.torch = torch
        self.scale = _check_model(model)
        self.threads, self.chunk = int(threads), int(chunk)
        self.widths = list(model.layer_sizes[1:])
        self.first_weight = torch.tensor(np.asarray(model.weights[0], dtype=np.float32))
        self.first_bias = torch.tensor(np.asarray(model.biases[0], dtype=np.float32))
        self.upper_weights = [torch.tensor(np.ascontiguousarray(w.T, dtype=np.float32)) for w in model.weights[1:]]
        self.upper_biases = [torch.tensor(np.asarray(b, dtype=np.float32)) for b in model.biases[1:]]

    def __call__(self, X, y, replications, *, seed=0, noise=None):
        """(grad_weights, grad_biases, loss); ``noise`` as for :class:`NumpyPeer`."""
        torch = self.torch
        torch.set_num_threads(self.threads)
        widths, scale = self.widths, self.scale
        with torch.inference_mode():
            X32 = torch.tensor(np.asarray(X, dtype=np.float32))
            labels = torch.tensor(np.asarray(y, dtype=np.int64))
            first_pre = torch.addmm(self.first_bias, X32, self.first_weight.T)
            first_sums = torch.zeros_like(first_pre)
            upper_sums = [torch.zeros(w + 1, v) for w, v in zip(widths[:-1], widths[1:])]
            loss_sum = 0.0
            generator = torch.Generator()
            for sample, samples, first, count in tiles(X32.shape[0], int(replications), self.chunk):
                rows = samples * count
                if noise is None:
                    generator.manual_seed(hash((seed, sample, first)) & (2**63 - 1))
                    r = [torch.empty(rows, w).normal_(0.0, scale, generator=generator) for w in widths]
                else:
                    r = [torch.tensor(level[sample:sample + samples, first:first + count]).view(rows, -1)
                         for level in noise]
                x = torch.sigmoid_((r[0].view(samples, count, -1)
                                    + first_pre[sample:sample + samples, None, :]).view(rows, -1))
                inputs = []
                for weights, bias, level in zip(self.upper_weights, self.upper_biases, r[1:]):
                    inputs.append(x)
                    x = torch.sigmoid_(torch.addmm(bias, x, weights).add_(level))
                target = x.view(samples, count, -1).gather(
                    2, labels[sample:sample + samples].view(samples, 1, 1).expand(samples, count, 1))
                loss = torch.exp(x).sum(dim=1).log_().sub_(target.view(-1))       # x in (0, 1): no overflow
                first_sums[sample:sample + samples] += torch.bmm(loss.view(samples, 1, count),
                                                                 r[0].view(samples, count, -1))[:, 0, :]
                for total, level, x_in in zip(upper_sums, r[1:], inputs):
                    weighted = level.mul_(loss[:, None])
                    total[:-1].addmm_(x_in.T, weighted)
                    total[-1] += weighted.sum(dim=0)
                loss_sum += float(loss.sum(dtype=torch.float64))
        return _finish(X, first_sums.double().numpy(), [t.double().numpy().T for t in upper_sums],
                       loss_sum, replications, scale)


# ---------------------------------------------------------------------------------------------
# The kernel's work per call, and the machine's limits
# ---------------------------------------------------------------------------------------------

def kernel_work(layer_sizes, n_samples, replications):
    """The work of one ``MLP.gradient`` call (sigmoid levels, Gaussian noise, cross-entropy, no
    baseline), from work_item.c, with n_0 the inputs, n_1 .. n_L the widths, N samples, K
    replications:

    * normals = N K (n_1 + ... + n_L): one per unit and replication (Box-Muller, noise.h);
    * flops, the products of the forward pass and the score accumulation, a multiply-add
      counted as 2:
      per sample  2 n_0 n_1 (W0 x, first_preactivation) + 2 n_1 n_0 (the first-level outer
      product x (x) sum_k L psi, first_level_outer_product);
      per replication  2 n_1 (sum_k L_k psi(r^(1)_k)) + sum_{l >= 2} [2 n_(l-1) n_l (W x) +
      2 n_l (n_(l-1) + 1) (L psi (x) [x; 1], accumulate_upper)];
      the element-wise adds and multiplies (noise, bias, psi = r / sigma^2, L psi) are left
      out: they are not sgemm's kind of work;
    * exps = N K (n_1 + ... + n_L + n_L): one exp per sigmoid unit, and n_L for the softmax of
      the cross-entropy (lane_exp_total in loss.h), per replication (its one log is not counted).
    """
    sizes = [int(v) for v in layer_sizes]
    n, k, widths = int(n_samples), int(replications), sizes[1:]
    per_sample = 4 * sizes[0] * sizes[1]
    per_replication = 2 * sizes[1] + sum(2 * a * b + 2 * b * (a + 1) for a, b in zip(sizes[1:-1], sizes[2:]))
    return {"normals": n * k * sum(widths), "flops": n * per_sample + n * k * per_replication,
            "exps": n * k * (sum(widths) + widths[-1])}


def _threaded_rate(work, threads, seconds):
    """Items per second of ``work(thread) -> items`` run by ``threads`` Python threads at once
    for about ``seconds`` (each thread repeats it; the best of three such runs)."""
    def repeat(thread):
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            done += work(thread)
        return done, time.perf_counter() - start

    best = 0.0
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))                   # warm up
        for _ in range(3):
            results = list(pool.map(repeat, range(threads)))
            best = max(best, sum(done for done, _ in results) / max(elapsed for _, elapsed in results))
    return best


def normals_per_second(method="ziggurat", threads=2, *, size=2**16, seconds=0.3):
    """float32 N(0, 1) draws per second of numpy (:func:`fill_normals`, SFC64), ``threads`` threads,
    into cache-resident arrays of ``size``."""
    generators = [np.random.Generator(np.random.SFC64(t)) for t in range(threads)]
    buffers = [np.empty(size, dtype=np.float32) for _ in range(threads)]
    return _threaded_rate(lambda t: fill_normals(generators[t], buffers[t], 1.0, method).size, threads, seconds)


def kernel_noise_per_second(model, threads=2, *, replications=2**14, seconds=0.3):
    """Normals per second of the kernel's own generator through ``MLP.sample_noise`` (one sample,
    ``replications`` rows of all units, a new step each call), in ``threads`` threads (the
    binding releases the GIL).  It also writes the (replications x units) array, so it bounds
    the in-kernel rate from below."""
    steps = iter(range(1, 10**9))
    return _threaded_rate(lambda t: _kernel_noise(model, replications, next(steps)), threads, seconds)


def _kernel_noise(model, replications, step):
    return sum(level.size for level in model.sample_noise(1, replications, step=step))


def sgemm_flops_per_second(threads=2, *, size=2048, repeats=5):
    """float32 FLOP/s of numpy's matmul (OpenBLAS sgemm) on ``size`` x ``size`` matrices with
    ``threads`` BLAS threads: 2 size^3 per product, the best of ``repeats``."""
    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    out = np.empty_like(a)
    best = math.inf
    with threadpool_limits(threads, user_api="blas"):
        np.matmul(a, b, out=out)
        for _ in range(repeats):
            start = time.perf_counter()
            np.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best


def exp_per_second(threads=2, *, size=2**14, seconds=0.3):
    """float32 exp per second of ``np.exp`` (numpy's SIMD loop) in ``threads`` threads, each on
    its own cache-resident array of ``size`` values in (-8, 8)."""
    rng = np.random.default_rng(0)
    inputs = [rng.uniform(-8.0, 8.0, size).astype(np.float32) for _ in range(threads)]
    outputs = [np.empty(size, dtype=np.float32) for _ in range(threads)]

    def work(thread):
        for _ in range(16):
            np.exp(inputs[thread], out=outputs[thread])
        return 16 * size

    return _threaded_rate(work, threads, seconds)
