/*
 * emu.epoch._atomics: 64-bit sequentially consistent atomics on any writable
 * buffer (SharedMemory.buf, mmap.mmap, bytearray), in the spirit of ck_pr.h.
 *
 * Why a C extension: measured on the project host, the PyPI `atomics` package
 * costs ~8 us per fetch_add, ctypes into libatomic ~0.4 us, a cffi API-mode
 * module ~0.11 us; a CPython extension calling the __atomic builtins directly
 * costs a few tens of ns, most of it the Python call itself.
 *
 * Every operation is __ATOMIC_SEQ_CST: on x86-64 a load is a MOV, a store an
 * XCHG (implicit full fence), RMWs are LOCK-prefixed; on AArch64 LDAR/STLR and
 * LSE/LL-SC pairs, which are RCsc, so SC loads and stores stay ordered.
 *
 * Values are signed 64-bit Python ints; arithmetic wraps modulo 2**64.
 *
 * Two forms:
 *   load(buf, off) ... module functions: acquire the buffer on every call.
 *   Words(buf)     ... a bound view: acquires the buffer once (hot paths).
 *                      Call release() (or use `with`) before closing the
 *                      mmap/SharedMemory: a held export makes close() raise.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define WORD ((Py_ssize_t)sizeof(uint64_t))

/* Resolve (buffer base, length, offset) to an aligned word or set an error. */
static uint64_t *
word_at(char *base, Py_ssize_t len, PyObject *offobj)
{
    Py_ssize_t off = PyLong_AsSsize_t(offobj);
    if (off == -1 && PyErr_Occurred())
        return NULL;
    if (off < 0 || off > len - WORD) {
        PyErr_Format(PyExc_ValueError,
                     "offset %zd out of range for a %zd-byte buffer", off, len);
        return NULL;
    }
    if (((uintptr_t)(base + off)) % sizeof(uint64_t) != 0) {
        PyErr_Format(PyExc_ValueError,
                     "offset %zd is not 8-byte aligned", off);
        return NULL;
    }
    return (uint64_t *)(base + off);
}

/* Accept any int in [-2**63, 2**64): the word holds its two's-complement bits. */
static int
as_u64(PyObject *v, uint64_t *out)
{
    long long x = PyLong_AsLongLong(v);
    if (x == -1 && PyErr_Occurred()) {
        unsigned long long u;

        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return -1;
        PyErr_Clear();
        u = PyLong_AsUnsignedLongLong(v);
        if (u == (unsigned long long)-1 && PyErr_Occurred())
            return -1;
        *out = (uint64_t)u;
        return 0;
    }
    *out = (uint64_t)x;
    return 0;
}

static inline PyObject *
from_u64(uint64_t v)
{
    return PyLong_FromLongLong((long long)v);
}

/* The operations, shared by the module functions and Words methods.
 * args[0] is the word already resolved; the rest are the Python operands. */
enum op { OP_LOAD, OP_STORE, OP_XCHG, OP_FADD, OP_CAS, OP_CASV };
static const Py_ssize_t op_nargs[] = {0, 1, 1, 1, 2, 2};
static const char *op_name[] = {"load", "store", "xchg", "fetch_add", "cas",
                                "cas_value"};

static PyObject *
do_op(enum op op, uint64_t *w, PyObject *const *a)
{
    uint64_t x, y;

    switch (op) {
    case OP_LOAD:
        return from_u64(__atomic_load_n(w, __ATOMIC_SEQ_CST));
    case OP_STORE:
        if (as_u64(a[0], &x) < 0)
            return NULL;
        __atomic_store_n(w, x, __ATOMIC_SEQ_CST);
        Py_RETURN_NONE;
    case OP_XCHG:
        if (as_u64(a[0], &x) < 0)
            return NULL;
        return from_u64(__atomic_exchange_n(w, x, __ATOMIC_SEQ_CST));
    case OP_FADD:
        if (as_u64(a[0], &x) < 0)
            return NULL;
        return from_u64(__atomic_fetch_add(w, x, __ATOMIC_SEQ_CST));
    case OP_CAS:
    case OP_CASV:
        if (as_u64(a[0], &x) < 0 || as_u64(a[1], &y) < 0)
            return NULL;
        {
            /* On failure x receives the value seen, as ck_pr_cas_*_value;
             * on success it still holds the expected (= seen) value. */
            int ok = __atomic_compare_exchange_n(w, &x, y, 0, __ATOMIC_SEQ_CST,
                                                 __ATOMIC_SEQ_CST);
            if (op == OP_CAS)
                return PyBool_FromLong(ok);
            return from_u64(x);
        }
    }
    PyErr_SetString(PyExc_SystemError, "bad atomic op");
    return NULL;
}

static int
check_nargs(enum op op, Py_ssize_t nargs, Py_ssize_t fixed)
{
    if (nargs != fixed + op_nargs[op]) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)",
                     op_name[op], fixed + op_nargs[op], nargs);
        return -1;
    }
    return 0;
}

/* ---- module functions: op(buf, offset, ...) ---- */

static PyObject *
mod_op(enum op op, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    PyObject *res;
    uint64_t *w;

    if (check_nargs(op, nargs, 2) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_WRITABLE) < 0)
        return NULL;
    w = word_at(view.buf, view.len, args[1]);
    res = w == NULL ? NULL : do_op(op, w, args + 2);
    PyBuffer_Release(&view);
    return res;
}

#define MODFN(name, OP)                                                      \
    static PyObject *mod_##name(PyObject *m, PyObject *const *a, Py_ssize_t n) \
    {                                                                         \
        (void)m;                                                              \
        return mod_op(OP, a, n);                                              \
    }
MODFN(load, OP_LOAD)
MODFN(store, OP_STORE)
MODFN(xchg, OP_XCHG)
MODFN(fetch_add, OP_FADD)
MODFN(cas, OP_CAS)
MODFN(cas_value, OP_CASV)

static PyObject *
mod_fence(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    Py_RETURN_NONE;
}

/* ---- Words: a buffer bound once ---- */

typedef struct {
    PyObject_HEAD
    Py_buffer view;
    int held;
} WordsObject;

static int
Words_init(WordsObject *self, PyObject *args, PyObject *kw)
{
    PyObject *buf;
    static char *kwlist[] = {"buf", NULL};

    if (!PyArg_ParseTupleAndKeywords(args, kw, "O:Words", kwlist, &buf))
        return -1;
    if (self->held) {
        PyBuffer_Release(&self->view);
        self->held = 0;
    }
    if (PyObject_GetBuffer(buf, &self->view, PyBUF_WRITABLE) < 0)
        return -1;
    self->held = 1;
    return 0;
}

static void
Words_dealloc(WordsObject *self)
{
    if (self->held)
        PyBuffer_Release(&self->view);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
words_op(WordsObject *self, enum op op, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t *w;

    if (!self->held) {
        PyErr_SetString(PyExc_ValueError, "Words buffer was released");
        return NULL;
    }
    if (check_nargs(op, nargs, 1) < 0)
        return NULL;
    w = word_at(self->view.buf, self->view.len, args[0]);
    return w == NULL ? NULL : do_op(op, w, args + 1);
}

#define WFN(name, OP)                                                          \
    static PyObject *W_##name(WordsObject *s, PyObject *const *a, Py_ssize_t n) \
    {                                                                           \
        return words_op(s, OP, a, n);                                           \
    }
WFN(load, OP_LOAD)
WFN(store, OP_STORE)
WFN(xchg, OP_XCHG)
WFN(fetch_add, OP_FADD)
WFN(cas, OP_CAS)
WFN(cas_value, OP_CASV)

static PyObject *
W_release(WordsObject *self, PyObject *unused)
{
    (void)unused;
    if (self->held) {
        PyBuffer_Release(&self->view);
        self->held = 0;
    }
    Py_RETURN_NONE;
}

static PyObject *
W_enter(WordsObject *self, PyObject *unused)
{
    (void)unused;
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *
W_exit(WordsObject *self, PyObject *args)
{
    (void)args;
    return W_release(self, NULL);
}

static PyObject *
W_len(WordsObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSsize_t(self->held ? self->view.len : 0);
}

static PyMethodDef Words_methods[] = {
    {"load", (PyCFunction)(void (*)(void))W_load, METH_FASTCALL,
     "load(off) -> int: SC 64-bit load."},
    {"store", (PyCFunction)(void (*)(void))W_store, METH_FASTCALL,
     "store(off, v): SC 64-bit store."},
    {"xchg", (PyCFunction)(void (*)(void))W_xchg, METH_FASTCALL,
     "xchg(off, v) -> old."},
    {"fetch_add", (PyCFunction)(void (*)(void))W_fetch_add, METH_FASTCALL,
     "fetch_add(off, delta) -> old (wraps modulo 2**64)."},
    {"cas", (PyCFunction)(void (*)(void))W_cas, METH_FASTCALL,
     "cas(off, expected, desired) -> bool."},
    {"cas_value", (PyCFunction)(void (*)(void))W_cas_value, METH_FASTCALL,
     "cas_value(off, expected, desired) -> the value seen (== expected iff swapped)."},
    {"release", (PyCFunction)W_release, METH_NOARGS,
     "Release the buffer so that its owner can be closed."},
    {"__enter__", (PyCFunction)W_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)W_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Words_getset[] = {
    {"nbytes", (getter)W_len, NULL, "Length of the bound buffer (0 once released).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject WordsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "emu.epoch._atomics.Words",
    .tp_basicsize = sizeof(WordsObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Words(buf): SC 64-bit atomics on a writable buffer bound once.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Words_init,
    .tp_dealloc = (destructor)Words_dealloc,
    .tp_methods = Words_methods,
    .tp_getset = Words_getset,
};

static PyMethodDef module_methods[] = {
    {"load", (PyCFunction)(void (*)(void))mod_load, METH_FASTCALL,
     "load(buf, off) -> int: SC 64-bit load."},
    {"store", (PyCFunction)(void (*)(void))mod_store, METH_FASTCALL,
     "store(buf, off, v): SC 64-bit store."},
    {"xchg", (PyCFunction)(void (*)(void))mod_xchg, METH_FASTCALL,
     "xchg(buf, off, v) -> old."},
    {"fetch_add", (PyCFunction)(void (*)(void))mod_fetch_add, METH_FASTCALL,
     "fetch_add(buf, off, delta) -> old (wraps modulo 2**64)."},
    {"cas", (PyCFunction)(void (*)(void))mod_cas, METH_FASTCALL,
     "cas(buf, off, expected, desired) -> bool."},
    {"cas_value", (PyCFunction)(void (*)(void))mod_cas_value, METH_FASTCALL,
     "cas_value(buf, off, expected, desired) -> the value seen (== expected iff swapped)."},
    {"fence", (PyCFunction)mod_fence, METH_NOARGS,
     "fence(): SC thread fence (orders plain buffer writes before later loads)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "emu.epoch._atomics",
    "Sequentially consistent 64-bit atomics on writable buffers.", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__atomics(void)
{
    PyObject *m;

    if (PyType_Ready(&WordsType) < 0)
        return NULL;
    m = PyModule_Create(&moduledef);
    if (m == NULL)
        return NULL;
    Py_INCREF(&WordsType);
    if (PyModule_AddObject(m, "Words", (PyObject *)&WordsType) < 0) {
        Py_DECREF(&WordsType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
