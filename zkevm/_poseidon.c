/*
 * zkevm._poseidon — Poseidon over the Goldilocks field (width 12, 8 full + 22 partial rounds, x^7),
 * the hash of the Polygon zkEVM state tree (shared/spec/fork6-state-spec.md §1).
 *
 * The round constants and the MDS matrix are not compiled in: `zkevm.poseidon` hands them over from
 * `zkevm.poseidon_params` once, through `init()`, so there is a single copy of the parameters.
 *
 * Exports:
 *   init(round_constants: 360 ints, mds_circulant: 12, mds_diagonal: 12, opt_c: 118, opt_p: 144,
 *        opt_s: 506) -> None
 *   hash12(state: 12 ints) -> 4-tuple            H(state[0:8], capacity=state[8:12])
 *   linear_hash(data: bytes) -> 4-tuple          the "linear Poseidon" bytecode hash of §4.3
 *   is_ready() -> bool
 *
 * Field elements cross the boundary as Python ints; inputs are reduced mod p (values >= 2^64 or < 0
 * raise OverflowError). Arithmetic keeps every word canonical (< p) between operations.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#define WIDTH 12
#define ROUNDS 30
#define HALF_FULL 4
#define P_GOLDILOCKS 0xFFFFFFFF00000001ULL
#define EPSILON 0xFFFFFFFFULL /* 2^64 mod p */

typedef unsigned __int128 u128;

static uint64_t RC[ROUNDS * WIDTH];       /* reference form: kept to document the parameters */
#define OPT_C_LEN 118
#define OPT_S_LEN (22 * 23)
#define PARTIAL 22
static uint64_t OPT_C[OPT_C_LEN];
static uint64_t OPT_P[WIDTH * WIDTH];
static uint64_t OPT_S[OPT_S_LEN];
static int ready = 0;

/* Words are kept in [0, 2^64) between operations (not necessarily < p) and made canonical only when
   they leave the permutation. Everything is branch-free: carries and borrows of random field elements
   are coin flips, and a mispredicted branch costs more than the arithmetic around it. */
static inline uint64_t canon(uint64_t x) {
    uint64_t ge = (uint64_t)0 - (uint64_t)(x >= P_GOLDILOCKS);
    return x - (ge & P_GOLDILOCKS);
}

/* x mod p, up to one multiple of p, for any 128-bit x: 2^64 = 2^32 - 1 and 2^96 = -1 (mod p). */
static inline uint64_t reduce128(u128 x) {
    uint64_t lo = (uint64_t)x;
    uint64_t hi = (uint64_t)(x >> 64);
    uint64_t hi_hi = hi >> 32;
    uint64_t hi_lo = hi & EPSILON;
    uint64_t t0;
    /* borrow: adding p is subtracting 2^32 - 1 mod 2^64 */
    uint64_t borrow = (uint64_t)__builtin_sub_overflow(lo, hi_hi, &t0);
    t0 -= ((uint64_t)0 - borrow) & EPSILON;
    uint64_t t1 = hi_lo * EPSILON;
    uint64_t t2;
    /* carry: 2^64 = 2^32 - 1 mod p; t1 <= (2^32-1)^2 so a second carry cannot happen */
    uint64_t carry = (uint64_t)__builtin_add_overflow(t0, t1, &t2);
    t2 += ((uint64_t)0 - carry) & EPSILON;
    return t2;
}

/* The same for x < 2^96 (the sums of small-coefficient products and of reduced words). */
static inline uint64_t reduce96(u128 x) {
    uint64_t lo = (uint64_t)x;
    uint64_t t1 = (uint64_t)(x >> 64) * EPSILON;
    uint64_t t2;
    uint64_t carry = (uint64_t)__builtin_add_overflow(lo, t1, &t2);
    t2 += ((uint64_t)0 - carry) & EPSILON;
    return t2;
}

/* a + b mod p up to one multiple of p, for any a, b < 2^64 (at most two carries). */
static inline uint64_t add_mod(uint64_t a, uint64_t b) {
    uint64_t s;
    uint64_t carry = (uint64_t)__builtin_add_overflow(a, b, &s);
    uint64_t s2;
    uint64_t carry2 = (uint64_t)__builtin_add_overflow(s, ((uint64_t)0 - carry) & EPSILON, &s2);
    return s2 + (((uint64_t)0 - carry2) & EPSILON);
}

static inline uint64_t mul_mod(uint64_t a, uint64_t b) { return reduce128((u128)a * b); }

static inline uint64_t pow7(uint64_t x) {
    uint64_t x2 = mul_mod(x, x);
    uint64_t x3 = mul_mod(x2, x);
    uint64_t x4 = mul_mod(x2, x2);
    return mul_mod(x3, x4);
}

/* The circulant MDS layer: t[i] = sum_k MCIRC[k] * s[(i + k) % 12], plus MDIAG on the diagonal.
   MCIRC entries are < 64, so a row's 12 products of 64-bit words fit a 128-bit accumulator. */
static uint64_t MCIRC[WIDTH], MDIAG[WIDTH];

static inline void mds(uint64_t s[WIDTH]) {
    uint64_t t[WIDTH];
    for (int i = 0; i < WIDTH; i++) {
        u128 acc = (u128)MDIAG[i] * s[i];
        for (int k = 0; k < WIDTH; k++) {
            int j = i + k;
            if (j >= WIDTH) j -= WIDTH;
            acc += (u128)MCIRC[k] * s[j];
        }
        t[i] = reduce96(acc);
    }
    memcpy(s, t, sizeof(t));
}

/* sum_j a[j] * b[j] mod p (up to one multiple of p). The 128-bit products are added without being
   reduced; the carries out of 128 bits are counted and folded back with 2^128 = -2^32 (mod p). */
static inline uint64_t dot12(const uint64_t *a, const uint64_t *b, ptrdiff_t b_stride) {
    u128 acc = 0;
    uint64_t carries = 0;
    for (int j = 0; j < WIDTH; j++) {
        u128 prod = (u128)a[j] * b[j * b_stride];
        acc += prod;
        carries += (uint64_t)(acc < prod);
    }
    /* carries * 2^128 = carries * (p - 2^32) = -(carries << 32) (mod p), with carries <= 11 */
    uint64_t r = reduce128(acc);
    uint64_t c = carries << 32;
    uint64_t t;
    uint64_t borrow = (uint64_t)__builtin_sub_overflow(r, c, &t);
    /* on a borrow, t = r - c + 2^64; adding p means subtracting 2^32 - 1 */
    return t - (((uint64_t)0 - borrow) & EPSILON);
}

static inline void sbox_all(uint64_t s[WIDTH]) {
    for (int i = 0; i < WIDTH; i++) s[i] = pow7(s[i]);
}

static inline void add_consts(uint64_t s[WIDTH], const uint64_t *c) {
    for (int i = 0; i < WIDTH; i++) s[i] = add_mod(s[i], c[i]);
}

/* The permutation in the optimised form of spec §1.5 (same output as the reference form of §1.2,
   which tests check against the pure-Python twin): the 22 partial rounds use a sparse matrix, so
   they cost 23 multiplications each instead of a full MDS layer. */
static void permute(uint64_t s[WIDTH]) {
    const uint64_t *c = OPT_C;
    add_consts(s, c);
    c += WIDTH;
    for (int r = 0; r < HALF_FULL - 1; r++) {
        sbox_all(s);
        add_consts(s, c);
        c += WIDTH;
        mds(s);
    }
    sbox_all(s);
    add_consts(s, c);
    c += WIDTH;
    {
        /* new[i] = sum_j P[j][i] * s[j]; every product is reduced, then 12 words sum in 128 bits */
        uint64_t t[WIDTH];
        for (int i = 0; i < WIDTH; i++) t[i] = dot12(s, &OPT_P[i], WIDTH);
        memcpy(s, t, sizeof(t));
    }
    for (int r = 0; r < PARTIAL; r++) {
        s[0] = add_mod(pow7(s[0]), c[r]);
        const uint64_t *sp = &OPT_S[(WIDTH + WIDTH - 1) * r];
        uint64_t s0_new = dot12(s, sp, 1);
        uint64_t s0 = s[0];
        for (int k = 1; k < WIDTH; k++) s[k] = add_mod(s[k], mul_mod(s0, sp[WIDTH + k - 1]));
        s[0] = s0_new;
    }
    c += PARTIAL;
    for (int r = 0; r < HALF_FULL - 1; r++) {
        sbox_all(s);
        add_consts(s, c);
        c += WIDTH;
        mds(s);
    }
    sbox_all(s);
    mds(s);
    for (int i = 0; i < WIDTH; i++) s[i] = canon(s[i]);
}

static int read_words(PyObject *seq, uint64_t *out, Py_ssize_t n, const char *what) {
    PyObject *fast = PySequence_Fast(seq, what);
    if (fast == NULL) return -1;
    if (PySequence_Fast_GET_SIZE(fast) != n) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd field elements, got %zd", what, n,
                     PySequence_Fast_GET_SIZE(fast));
        Py_DECREF(fast);
        return -1;
    }
    PyObject **items = PySequence_Fast_ITEMS(fast);
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned long long v = PyLong_AsUnsignedLongLong(items[i]);
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return -1;
        }
        out[i] = canon((uint64_t)v);
    }
    Py_DECREF(fast);
    return 0;
}

static PyObject *h4_tuple(const uint64_t s[4]) {
    PyObject *t = PyTuple_New(4);
    if (t == NULL) return NULL;
    for (int i = 0; i < 4; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(s[i]);
        if (v == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

static PyObject *py_init(PyObject *self, PyObject *args) {
    PyObject *rc, *circ, *diag, *opt_c, *opt_p, *opt_s;
    if (!PyArg_ParseTuple(args, "OOOOOO", &rc, &circ, &diag, &opt_c, &opt_p, &opt_s)) return NULL;
    uint64_t c[WIDTH], d[WIDTH];
    if (read_words(rc, RC, ROUNDS * WIDTH, "round_constants") < 0) return NULL;
    if (read_words(opt_c, OPT_C, OPT_C_LEN, "opt_round_constants") < 0) return NULL;
    if (read_words(opt_p, OPT_P, WIDTH * WIDTH, "opt_pre_matrix") < 0) return NULL;
    if (read_words(opt_s, OPT_S, OPT_S_LEN, "opt_sparse_matrices") < 0) return NULL;
    if (read_words(circ, c, WIDTH, "mds_circulant") < 0) return NULL;
    if (read_words(diag, d, WIDTH, "mds_diagonal") < 0) return NULL;
    for (int i = 0; i < WIDTH; i++) {
        if (c[i] >= 64 || d[i] >= 64) {
            PyErr_SetString(PyExc_ValueError, "MDS entries must be < 64 for the 64-bit accumulators");
            return NULL;
        }
        MCIRC[i] = c[i];
        MDIAG[i] = d[i];
    }
    ready = 1;
    Py_RETURN_NONE;
}

static int check_ready(void) {
    if (!ready) {
        PyErr_SetString(PyExc_RuntimeError, "zkevm._poseidon.init() has not been called");
        return -1;
    }
    return 0;
}

static PyObject *py_hash12(PyObject *self, PyObject *arg) {
    if (check_ready() < 0) return NULL;
    uint64_t s[WIDTH];
    if (PyTuple_CheckExact(arg) && PyTuple_GET_SIZE(arg) == WIDTH) {
        /* fast path: the SMT always passes a 12-tuple */
        for (int i = 0; i < WIDTH; i++) {
            unsigned long long v = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(arg, i));
            if (v == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
            s[i] = canon((uint64_t)v);
        }
    } else if (read_words(arg, s, WIDTH, "hash12") < 0) {
        return NULL;
    }
    permute(s);
    return h4_tuple(s);
}

static PyObject *py_linear_hash(PyObject *self, PyObject *arg) {
    if (check_ready() < 0) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const uint8_t *data = (const uint8_t *)view.buf;
    Py_ssize_t len = view.len;
    /* padded length: len + 1 (the 0x01 byte) rounded up to a multiple of 56 */
    Py_ssize_t padded = ((len + 1 + 55) / 56) * 56;
    uint64_t h[4] = {0, 0, 0, 0};
    uint8_t chunk[56];
    for (Py_ssize_t off = 0; off < padded; off += 56) {
        for (int k = 0; k < 56; k++) {
            Py_ssize_t pos = off + k;
            uint8_t b;
            if (pos < len) b = data[pos];
            else if (pos == len) b = 0x01;
            else b = 0x00;
            if (pos == padded - 1) b |= 0x80;
            chunk[k] = b;
        }
        uint64_t s[WIDTH];
        for (int j = 0; j < 8; j++) {
            uint64_t e = 0;
            for (int k = 6; k >= 0; k--) e = (e << 8) | chunk[7 * j + k];
            s[j] = e; /* < 2^56 < p */
        }
        for (int j = 0; j < 4; j++) s[8 + j] = h[j];
        permute(s);
        memcpy(h, s, sizeof(h));
    }
    PyBuffer_Release(&view);
    return h4_tuple(h);
}

static PyObject *py_is_ready(PyObject *self, PyObject *unused) { return PyBool_FromLong(ready); }

static PyMethodDef methods[] = {
    {"init", py_init, METH_VARARGS, "init(round_constants, mds_circulant, mds_diagonal, opt_c, opt_p, opt_s)"},
    {"hash12", py_hash12, METH_O, "hash12(state12) -> (h0, h1, h2, h3)"},
    {"linear_hash", py_linear_hash, METH_O, "linear_hash(data) -> (h0, h1, h2, h3)"},
    {"is_ready", py_is_ready, METH_NOARGS, "whether init() has been called"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "zkevm._poseidon", "Goldilocks Poseidon (C)", -1, methods,
};

PyMODINIT_FUNC PyInit__poseidon(void) { return PyModule_Create(&module); }
