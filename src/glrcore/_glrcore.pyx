# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Thin binding of the C kernel (glrcore.h; sources in src/glrcore).

Everything here assumes the Python layer (glrnet.method.network) has already checked
the arguments; the binding re-checks only what it needs to never hand the C
kernel an out-of-bounds pointer, and turns C status codes into exceptions.
"""
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free

import numpy as np

cdef extern from "glrcore.h" nogil:
    ctypedef struct glr_level:
        int32_t n_in
        int32_t n_out
        const float *weight
        const float *bias
        int32_t activation
        float activation_slope
        int32_t staircase_levels
        int32_t noise
        float noise_scale
        float noise_shape
        const uint64_t *rqmc_steps

    ctypedef struct glr_level_gradient:
        double *weight
        double *bias

    ctypedef struct glr_outputs:
        double mean_loss
        double mean_accuracy
        double *sample_loss
        double *sample_accuracy
        double *sample_first_score
        double *sample_proba
        double *sample_votes
        int32_t nonfinite_kind
        int32_t nonfinite_level
        int64_t nonfinite_sample

    ctypedef struct glr_layout:
        int32_t block
        int32_t lanes
        int32_t chunk
        int64_t wave_bytes

    int GLR_BASELINE, GLR_ANTITHETIC, GLR_NO_GRADIENT, GLR_PORTABLE, GLR_SMALL_WAVES, GLR_RQMC
    int GLR_OK, GLR_EINVAL, GLR_ENOMEM, GLR_ENONFINITE
    int GLR_NONFINITE_PREACTIVATION, GLR_NONFINITE_LOSS, GLR_NONFINITE_GRADIENT

    int glr_estimate(const glr_level *levels, int32_t n_levels,
                     const float *inputs, const int64_t *labels, const uint32_t *sample_keys,
                     int64_t n_samples, int32_t loss, int64_t replications,
                     uint64_t seed, uint64_t step, int32_t flags, int32_t n_threads,
                     glr_level_gradient *gradients, glr_outputs *outputs)
    int glr_sample_noise(const glr_level *levels, int32_t n_levels, const uint32_t *sample_keys,
                         int64_t n_samples, int64_t replications, int64_t first, int64_t count,
                         uint64_t seed, uint64_t step, int32_t flags, float *noise_out)
    void glr_get_layout(glr_layout *out)
    void glr_philox4x32_10(const uint32_t *counter, const uint32_t *key, uint32_t *out)
    int glr_openmp_enabled()
    int glr_default_threads()
    const char *glr_simd_dispatch()

FLAG_BASELINE = GLR_BASELINE
FLAG_ANTITHETIC = GLR_ANTITHETIC
FLAG_NO_GRADIENT = GLR_NO_GRADIENT
FLAG_PORTABLE = GLR_PORTABLE
FLAG_SMALL_WAVES = GLR_SMALL_WAVES
FLAG_RQMC = GLR_RQMC


def layout():
    """The kernel's blocking (glr_layout): block, lanes, chunk, wave_bytes."""
    cdef glr_layout out
    glr_get_layout(&out)
    return {"block": int(out.block), "lanes": int(out.lanes), "chunk": int(out.chunk),
            "wave_bytes": int(out.wave_bytes)}


def openmp_enabled():
    """True when the kernel was compiled with OpenMP."""
    return bool(glr_openmp_enabled())


def default_threads():
    """OpenMP's default team size (honours OMP_NUM_THREADS); 1 without OpenMP."""
    return int(glr_default_threads())


def simd_dispatch():
    """Which instruction-set path the kernel runs on this machine."""
    return glr_simd_dispatch().decode()


def philox4x32_10(counter, key):
    """Philox4x32-10 of a 4-word counter under a 2-word key (for known-answer tests)."""
    cdef uint32_t c[4]
    cdef uint32_t k[2]
    cdef uint32_t out[4]
    cdef int i
    counter = [int(v) for v in counter]
    key = [int(v) for v in key]
    if len(counter) != 4 or len(key) != 2:
        raise ValueError("counter must have 4 words and key 2 words")
    for i in range(4):
        if not 0 <= counter[i] < 2**32:
            raise ValueError("counter words must be 32-bit unsigned integers")
        c[i] = counter[i]
    for i in range(2):
        if not 0 <= key[i] < 2**32:
            raise ValueError("key words must be 32-bit unsigned integers")
        k[i] = key[i]
    glr_philox4x32_10(c, k, out)
    return tuple(int(out[i]) for i in range(4))


cdef class _Levels:
    """Owns a C array of glr_level pointing into float32 arrays kept alive here."""
    cdef glr_level *levels
    cdef int32_t n_levels
    cdef list keep

    def __cinit__(self, list weights, list biases, activation, slope, staircase, noise, scale, shape,
                  rqmc_steps=None):
        cdef int32_t l
        cdef const float[:, ::1] w
        cdef const float[::1] b
        cdef const uint64_t[::1] steps_view
        cdef int64_t unit_offset = 0
        self.n_levels = len(weights)
        if self.n_levels < 1 or len(biases) != self.n_levels:
            raise ValueError("weights and biases must be non-empty lists of equal length")
        for seq, name in ((activation, "activation"), (slope, "slope"), (staircase, "staircase"),
                          (noise, "noise"), (scale, "scale"), (shape, "shape")):
            if len(seq) != self.n_levels:
                raise ValueError(f"{name} must have one entry per level")
        self.levels = <glr_level *> malloc(sizeof(glr_level) * self.n_levels)
        if self.levels == NULL:
            raise MemoryError()
        self.keep = []
        if rqmc_steps is not None:
            steps = np.ascontiguousarray(rqmc_steps, dtype=np.uint64)
            if steps.ndim != 1 or steps.shape[0] != sum(int(np.shape(wl)[0]) for wl in weights):
                raise ValueError("rqmc_steps must hold one increment per unit of every level")
            self.keep.append(steps)
            steps_view = steps
        for l in range(self.n_levels):
            wa = np.ascontiguousarray(weights[l], dtype=np.float32)
            ba = np.ascontiguousarray(biases[l], dtype=np.float32)
            if wa.ndim != 2 or ba.ndim != 1 or ba.shape[0] != wa.shape[0] or wa.shape[0] < 1 or wa.shape[1] < 1:
                raise ValueError(f"level {l}: weight must be (n_out, n_in) and bias (n_out,)")
            if l > 0 and wa.shape[1] != weights[l - 1].shape[0]:
                raise ValueError(f"level {l}: n_in does not match the previous level's n_out")
            self.keep.append(wa)
            self.keep.append(ba)
            w = wa
            b = ba
            self.levels[l].n_in = <int32_t> wa.shape[1]
            self.levels[l].n_out = <int32_t> wa.shape[0]
            self.levels[l].weight = &w[0, 0]
            self.levels[l].bias = &b[0]
            self.levels[l].activation = int(activation[l])
            self.levels[l].activation_slope = float(slope[l])
            self.levels[l].staircase_levels = int(staircase[l])
            self.levels[l].noise = int(noise[l])
            self.levels[l].noise_scale = float(scale[l])
            self.levels[l].noise_shape = float(shape[l])
            self.levels[l].rqmc_steps = NULL
            if rqmc_steps is not None:
                self.levels[l].rqmc_steps = &steps_view[unit_offset]
            unit_offset += wa.shape[0]

    def __dealloc__(self):
        if self.levels != NULL:
            free(self.levels)


cdef _raise_status(int status, str what):
    if status == GLR_ENOMEM:
        raise MemoryError(f"{what}: the kernel could not allocate its work space")
    if status != GLR_OK:
        raise ValueError(f"{what}: the kernel rejected its arguments (status {status})")


cdef _raise_nonfinite(const glr_outputs *out, int32_t n_levels):
    cdef int32_t level = out.nonfinite_level
    last = " (the output level)" if level == n_levels - 1 else ""
    if out.nonfinite_kind == GLR_NONFINITE_PREACTIVATION:
        what = "the pre-activation u = W x + b + r"
    elif out.nonfinite_kind == GLR_NONFINITE_LOSS:
        what = "the loss"
    elif out.nonfinite_kind == GLR_NONFINITE_GRADIENT:
        what = "the likelihood-ratio sums L psi(r) x of the gradient"
    else:
        what = "the class probability or vote sums"
    raise ValueError(f"glr_estimate: {what} overflowed float32 at level {level}{last} of "
                     f"levels 0..{n_levels - 1}, sample {out.nonfinite_sample}; scale the inputs or "
                     f"the weights down")


cdef const uint32_t *_keys_pointer(keys, int64_t n, list keep) except? NULL:
    """The data pointer of `keys` (None: NULL, the row index keys the noise); the
    uint32 copy is appended to `keep`."""
    if keys is None:
        return NULL
    ka = np.ascontiguousarray(keys, dtype=np.uint32)
    if ka.ndim != 1 or ka.shape[0] != n:
        raise ValueError("sample_keys must be (n_samples,)")
    keep.append(ka)
    cdef const uint32_t[::1] kv = ka
    return &kv[0]


cdef double *_output_buffer(dict result, str key, tuple shape) except NULL:
    """A zeroed float64 array of `shape` stored as result[key] (which keeps it alive);
    returns its data pointer for a glr_outputs field."""
    arr = np.zeros(shape, dtype=np.float64)
    result[key] = arr
    cdef double[::1] flat = arr.reshape(-1)
    return &flat[0]


def estimate(list weights, list biases, activation, slope, staircase, noise, scale, shape,
             X, y, int loss, long long replications, unsigned long long seed,
             unsigned long long step, int flags, int n_threads,
             bint sample_outputs=False, bint proba=False, bint votes=False, sample_keys=None,
             rqmc_steps=None):
    """Run glr_estimate; returns a dict of numpy arrays and floats."""
    cdef _Levels lv = _Levels(weights, biases, activation, slope, staircase, noise, scale, shape, rqmc_steps)
    cdef int32_t L = lv.n_levels
    cdef int32_t l
    cdef bint gradient = not (flags & GLR_NO_GRADIENT)
    Xa = np.ascontiguousarray(X, dtype=np.float32)
    if Xa.ndim != 2 or Xa.shape[1] != lv.levels[0].n_in or Xa.shape[0] < 1:
        raise ValueError("X must be (n_samples, n_inputs) matching the first level")
    cdef const float[:, ::1] xv = Xa
    cdef int64_t n = Xa.shape[0]
    cdef const int64_t[::1] yv
    cdef const int64_t *yptr = NULL
    if y is not None:
        ya = np.ascontiguousarray(y, dtype=np.int64)
        if ya.ndim != 1 or ya.shape[0] != n:
            raise ValueError("y must be (n_samples,)")
        yv = ya
        yptr = &yv[0]
    elif gradient:
        raise ValueError("y is required for a gradient")
    keep = []
    cdef const uint32_t *keys = _keys_pointer(sample_keys, n, keep)

    cdef int32_t n_first = lv.levels[0].n_out
    cdef int32_t n_classes = lv.levels[L - 1].n_out
    grads_w = []
    grads_b = []
    cdef glr_level_gradient *g = <glr_level_gradient *> malloc(sizeof(glr_level_gradient) * L)
    if g == NULL:
        raise MemoryError()
    cdef double[:, ::1] gw
    cdef double[::1] gb
    cdef glr_outputs out
    out.mean_loss = 0.0
    out.mean_accuracy = 0.0
    out.sample_loss = NULL
    out.sample_accuracy = NULL
    out.sample_first_score = NULL
    out.sample_proba = NULL
    out.sample_votes = NULL
    out.nonfinite_kind = 0
    out.nonfinite_level = 0
    out.nonfinite_sample = 0
    result = {}
    cdef int status
    try:
        for l in range(L):
            gwa = np.zeros((lv.levels[l].n_out, lv.levels[l].n_in), dtype=np.float64)
            gba = np.zeros(lv.levels[l].n_out, dtype=np.float64)
            grads_w.append(gwa)
            grads_b.append(gba)
            gw = gwa
            gb = gba
            g[l].weight = &gw[0, 0]
            g[l].bias = &gb[0]
        if sample_outputs:
            out.sample_loss = _output_buffer(result, "sample_loss", (n,))
            out.sample_accuracy = _output_buffer(result, "sample_accuracy", (n,))
            if gradient:
                out.sample_first_score = _output_buffer(result, "sample_first_score", (n, n_first))
        if proba:
            out.sample_proba = _output_buffer(result, "proba", (n, n_classes))
        if votes:
            out.sample_votes = _output_buffer(result, "votes", (n, n_classes))
        with nogil:
            status = glr_estimate(lv.levels, L, &xv[0, 0], yptr, keys, n, loss, replications,
                                  seed, step, flags, n_threads, g, &out)
    finally:
        free(g)
    if status == GLR_ENONFINITE:
        _raise_nonfinite(&out, L)
    _raise_status(status, "glr_estimate")
    result["loss"] = out.mean_loss
    result["accuracy"] = out.mean_accuracy
    if gradient:
        result["grad_weights"] = grads_w
        result["grad_biases"] = grads_b
    return result


def sample_noise(list weights, list biases, activation, slope, staircase, noise, scale, shape,
                 long long n_samples, long long replications, unsigned long long seed,
                 unsigned long long step, int flags, long long first=0, count=None,
                 sample_keys=None, rqmc_steps=None):
    """The noise the kernel draws for replications first .. first + count - 1 (default: all),
    as an (n_samples, count, total units) array."""
    cdef _Levels lv = _Levels(weights, biases, activation, slope, staircase, noise, scale, shape, rqmc_steps)
    cdef int64_t units = 0
    cdef int32_t l
    for l in range(lv.n_levels):
        units += lv.levels[l].n_out
    if n_samples < 1 or replications < 1:
        raise ValueError("n_samples and replications must be positive")
    cdef long long c = replications - first if count is None else count
    if first < 0 or c < 1 or first + c > replications:
        raise ValueError("first and count must select replications within 0 .. replications - 1")
    keep = []
    cdef const uint32_t *keys = _keys_pointer(sample_keys, n_samples, keep)
    arr = np.zeros((n_samples, c, units), dtype=np.float32)
    cdef float[:, :, ::1] view = arr
    cdef int status
    with nogil:
        status = glr_sample_noise(lv.levels, lv.n_levels, keys, n_samples, replications, first, c,
                                  seed, step, flags, &view[0, 0, 0])
    _raise_status(status, "glr_sample_noise")
    return arr
