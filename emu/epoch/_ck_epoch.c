/*
 * emu.epoch._ck_epoch: the hot paths of ck_epoch (concurrencykit/ck,
 * include/ck_epoch.h and src/ck_epoch.c) over a shared buffer, so that an
 * emulated CPU pays one Python call per ck_epoch_begin/ck_epoch_end.
 *
 * Everything else (register, synchronize's grace-period loop, poll, the
 * process-local deferred lists) is Python in ck_epoch.py; this file only
 * knows the layout below, which ck_epoch.py mirrors (keep them in step).
 *
 * Layout from `offset` (64-bit words, 64-byte lines):
 *   header, 2 lines:  +0 global epoch (alone on its line: every outermost
 *                     begin reads it, every tick writes it)
 *                     +64 magic, +72 capacity, +80 n_free
 *   record i at HDR + i*REC, 2 lines each, so no two records share a line:
 *     line A (read by scanners): +0 state, +8 active, +16 epoch, +24 vtime
 *     line B (owner only):       +64 n_pending, +72 n_peak, +80 n_dispatch,
 *                                +88.. section buckets {epoch, count} x 2
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define LINE 64
#define HDR (2 * LINE)
#define REC (2 * LINE)
#define MAGIC 0x656d75636b657031ULL /* "emuckep1" */

/* word indices */
#define G_EPOCH 0
#define H_MAGIC 8
#define H_CAPACITY 9
#define R_STATE 0
#define R_ACTIVE 1
#define R_EPOCH 2
#define R_VTIME 3

#define STATE_USED 1

typedef struct {
    PyObject_HEAD
    Py_buffer view;
    int held;
    uint64_t *global;  /* the header */
    char *records;     /* record 0 */
    Py_ssize_t capacity;
} RecordsObject;

static int
Records_init(RecordsObject *self, PyObject *args, PyObject *kw)
{
    PyObject *buf;
    Py_ssize_t offset = 0;
    uint64_t *hdr, cap;
    static char *kwlist[] = {"buf", "offset", NULL};

    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|n:Records", kwlist, &buf, &offset))
        return -1;
    if (self->held) {
        PyBuffer_Release(&self->view);
        self->held = 0;
    }
    if (PyObject_GetBuffer(buf, &self->view, PyBUF_WRITABLE) < 0)
        return -1;
    self->held = 1;
    if (offset < 0 || offset > self->view.len - HDR) {
        PyErr_Format(PyExc_ValueError, "offset %zd leaves no room for the header", offset);
        goto fail;
    }
    if (((uintptr_t)((char *)self->view.buf + offset)) % sizeof(uint64_t) != 0) {
        PyErr_Format(PyExc_ValueError, "offset %zd is not 8-byte aligned", offset);
        goto fail;
    }
    hdr = (uint64_t *)((char *)self->view.buf + offset);
    if (__atomic_load_n(&hdr[H_MAGIC], __ATOMIC_ACQUIRE) != MAGIC) {
        PyErr_SetString(PyExc_ValueError, "no ck_epoch header at this offset (not initialised?)");
        goto fail;
    }
    cap = __atomic_load_n(&hdr[H_CAPACITY], __ATOMIC_RELAXED);
    if (cap > (uint64_t)((self->view.len - offset - HDR) / REC)) {
        PyErr_Format(PyExc_ValueError, "buffer too small for %llu records",
                     (unsigned long long)cap);
        goto fail;
    }
    self->global = hdr;
    self->records = (char *)hdr + HDR;
    self->capacity = (Py_ssize_t)cap;
    return 0;
fail:
    PyBuffer_Release(&self->view);
    self->held = 0;
    return -1;
}

static void
Records_dealloc(RecordsObject *self)
{
    if (self->held)
        PyBuffer_Release(&self->view);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static uint64_t *
record(RecordsObject *self, PyObject *idxobj)
{
    Py_ssize_t i;

    if (!self->held) {
        PyErr_SetString(PyExc_ValueError, "Records buffer was released");
        return NULL;
    }
    i = PyLong_AsSsize_t(idxobj);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    if (i < 0 || i >= self->capacity) {
        PyErr_Format(PyExc_IndexError, "record %zd out of range [0, %zd)", i, self->capacity);
        return NULL;
    }
    return (uint64_t *)(self->records + i * REC);
}

/* Optional vtime argument: store it before the state change it stamps, so a
 * scanner that reads the new state and then the vtime sees a vtime at least
 * as new (release store here, loads in program order in scan()). */
static int
stamp(uint64_t *r, PyObject *const *args, Py_ssize_t nargs)
{
    long long vt;

    if (nargs < 2 || args[1] == Py_None)
        return 0;
    vt = PyLong_AsLongLong(args[1]);
    if (vt == -1 && PyErr_Occurred())
        return -1;
    __atomic_store_n(&r[R_VTIME], (uint64_t)vt, __ATOMIC_RELEASE);
    return 0;
}

/* ck_epoch_begin(record, NULL): begin(idx[, vtime]) -> nesting depth. */
static PyObject *
R_begin(RecordsObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t *r, a, g;

    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "begin(idx[, vtime])");
        return NULL;
    }
    if ((r = record(self, args[0])) == NULL)
        return NULL;
    if (__atomic_load_n(&r[R_STATE], __ATOMIC_RELAXED) != STATE_USED) {
        PyErr_Format(PyExc_RuntimeError, "epoch record %zd is not registered",
                     PyLong_AsSsize_t(args[0]));
        return NULL;
    }
    if (stamp(r, args, nargs) < 0)
        return NULL;
    /* Only the owner writes `active`, so a relaxed read of it is exact. */
    a = __atomic_load_n(&r[R_ACTIVE], __ATOMIC_RELAXED);
    if (a == 0) {
        /*
         * Outermost section. The store of active=1 must be globally visible
         * before we read the global epoch (and before any read of protected
         * data): a writer's synchronize that misses active=1 must then be
         * ordered before our epoch load, so we read an epoch it will wait on
         * or objects it has not yet unlinked. XCHG is the full store->load
         * fence (ck's CK_MD_TSO path: ck_pr_fas_uint + fence_atomic_load).
         */
        __atomic_exchange_n(&r[R_ACTIVE], (uint64_t)1, __ATOMIC_SEQ_CST);
        g = __atomic_load_n(&self->global[G_EPOCH], __ATOMIC_SEQ_CST);
        /*
         * Release is enough: if a scanner sees an older epoch here instead,
         * that value is <= g (the global is monotonic), which only makes us
         * look older and so makes the scanner wait longer, never less.
         */
        __atomic_store_n(&r[R_EPOCH], g, __ATOMIC_RELEASE);
        return PyLong_FromLong(1);
    }
    /* Nested: the record already pins its epoch; only the owner reads the depth. */
    __atomic_store_n(&r[R_ACTIVE], a + 1, __ATOMIC_RELEASE);
    return PyLong_FromUnsignedLongLong(a + 1);
}

/* ck_epoch_end(record, NULL): end(idx[, vtime]) -> True when now idle. */
static PyObject *
R_end(RecordsObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t *r, a;

    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "end(idx[, vtime])");
        return NULL;
    }
    if ((r = record(self, args[0])) == NULL)
        return NULL;
    a = __atomic_load_n(&r[R_ACTIVE], __ATOMIC_RELAXED);
    if (a == 0) {
        PyErr_Format(PyExc_RuntimeError, "epoch end without begin on record %zd",
                     PyLong_AsSsize_t(args[0]));
        return NULL;
    }
    if (stamp(r, args, nargs) < 0)
        return NULL;
    /*
     * ck_pr_fence_release + store: every read of protected data in the
     * section completes before a scanner can see the decrement.
     */
    __atomic_store_n(&r[R_ACTIVE], a - 1, __ATOMIC_RELEASE);
    return PyBool_FromLong(a == 1);
}

/*
 * ck_epoch_scan: scan(epoch, start, horizon) -> (blocker, any_active).
 * From record `start`, return the first registered record that is active
 * with an epoch other than `epoch` (or, when horizon >= 0, whose vtime is
 * later than horizon: its state at the caller's virtual time is unknown,
 * so it is treated as blocking). blocker is -1 when none; any_active tells
 * whether a scanned registered record was active.
 * SC loads: the caller issued the full fence that pairs with begin's XCHG.
 */
static PyObject *
R_scan(RecordsObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    long long epoch, horizon;
    Py_ssize_t start, i;
    int af = 0;

    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "scan(epoch, start, horizon)");
        return NULL;
    }
    if (!self->held) {
        PyErr_SetString(PyExc_ValueError, "Records buffer was released");
        return NULL;
    }
    epoch = PyLong_AsLongLong(args[0]);
    if (epoch == -1 && PyErr_Occurred())
        return NULL;
    start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred())
        return NULL;
    horizon = PyLong_AsLongLong(args[2]);
    if (horizon == -1 && PyErr_Occurred())
        return NULL;
    if (start < 0)
        start = 0;
    for (i = start; i < self->capacity; i++) {
        uint64_t *r = (uint64_t *)(self->records + i * REC);
        uint64_t active;

        if (__atomic_load_n(&r[R_STATE], __ATOMIC_SEQ_CST) != STATE_USED)
            continue;
        active = __atomic_load_n(&r[R_ACTIVE], __ATOMIC_SEQ_CST);
        af |= active != 0;
        if (active != 0 &&
            __atomic_load_n(&r[R_EPOCH], __ATOMIC_SEQ_CST) != (uint64_t)epoch)
            break;
        /* Read last: at least as new as the state read above (see stamp()). */
        if (horizon >= 0 &&
            (long long)__atomic_load_n(&r[R_VTIME], __ATOMIC_SEQ_CST) > horizon)
            break;
    }
    return Py_BuildValue("(nO)", i < self->capacity ? i : (Py_ssize_t)-1,
                         af ? Py_True : Py_False);
}

/* The global epoch (SC load). */
static PyObject *
R_epoch(RecordsObject *self, PyObject *unused)
{
    (void)unused;
    if (!self->held) {
        PyErr_SetString(PyExc_ValueError, "Records buffer was released");
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(__atomic_load_n(&self->global[G_EPOCH],
                                                       __ATOMIC_SEQ_CST));
}

static PyObject *
R_release(RecordsObject *self, PyObject *unused)
{
    (void)unused;
    if (self->held) {
        PyBuffer_Release(&self->view);
        self->held = 0;
    }
    Py_RETURN_NONE;
}

static PyObject *
R_enter(RecordsObject *self, PyObject *unused)
{
    (void)unused;
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *
R_exit(RecordsObject *self, PyObject *args)
{
    (void)args;
    return R_release(self, NULL);
}

static PyObject *
R_capacity(RecordsObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSsize_t(self->capacity);
}

static PyMethodDef Records_methods[] = {
    {"begin", (PyCFunction)(void (*)(void))R_begin, METH_FASTCALL,
     "begin(idx[, vtime]) -> depth: ck_epoch_begin without a section."},
    {"end", (PyCFunction)(void (*)(void))R_end, METH_FASTCALL,
     "end(idx[, vtime]) -> bool: ck_epoch_end without a section; True when idle."},
    {"scan", (PyCFunction)(void (*)(void))R_scan, METH_FASTCALL,
     "scan(epoch, start, horizon) -> (blocker or -1, any_active): ck_epoch_scan."},
    {"epoch", (PyCFunction)R_epoch, METH_NOARGS, "The global epoch."},
    {"release", (PyCFunction)R_release, METH_NOARGS,
     "Release the buffer so that its owner can be closed."},
    {"__enter__", (PyCFunction)R_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)R_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Records_getset[] = {
    {"capacity", (getter)R_capacity, NULL, "Number of record slots.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject RecordsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "emu.epoch._ck_epoch.Records",
    .tp_basicsize = sizeof(RecordsObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Records(buf, offset=0): ck_epoch begin/end/scan on an initialised block.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Records_init,
    .tp_dealloc = (destructor)Records_dealloc,
    .tp_methods = Records_methods,
    .tp_getset = Records_getset,
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "emu.epoch._ck_epoch",
    "ck_epoch hot paths over a shared buffer.", -1, NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__ck_epoch(void)
{
    PyObject *m;

    if (PyType_Ready(&RecordsType) < 0)
        return NULL;
    m = PyModule_Create(&moduledef);
    if (m == NULL)
        return NULL;
    Py_INCREF(&RecordsType);
    if (PyModule_AddObject(m, "Records", (PyObject *)&RecordsType) < 0 ||
        PyModule_AddIntConstant(m, "LINE", LINE) < 0 ||
        PyModule_AddIntConstant(m, "HDR", HDR) < 0 ||
        PyModule_AddIntConstant(m, "REC", REC) < 0 ||
        PyModule_AddObject(m, "MAGIC", PyLong_FromUnsignedLongLong(MAGIC)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
