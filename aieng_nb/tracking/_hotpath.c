/* aieng.log's fast path in C: the same record as aieng_nb/tracking/codec.py's struct, in one call.
 *
 * The pure-Python aieng.log (tracking/active.py) spends most of its ~650 ns building the keyword
 * dict, the key tuple and the struct call. Called with METH_FASTCALL, this function gets the keyword
 * names as the call site's constant tuple: it finds the key set's header by that tuple (the last
 * one, by identity, else a small dict), converts the step and the values as struct would
 * (PyLong for the step, PyFloat_AsDouble for a value), packs "<Idq" + "d" * n + "B" (or "<Id" ...
 * for the automatic step) little-endian into one bytes object and hands it to the journal's
 * current ``write`` (the mapped segment's mmap.write). Anything else (no active journal, a key set
 * not interned yet, a step or a value struct would refuse, a full segment) calls the pure-Python
 * ``log`` with the same arguments, which is the reference: both write the same bytes.
 *
 * Built by hatch_build.py when a C compiler is there; without it aieng_nb uses the Python path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <time.h>

#if !PY_LITTLE_ENDIAN
#error "the journal's records are little-endian: the Python path serves big-endian machines"
#endif

#define MAX_VALUES 64 /* codec.MAX_VALUES */
#define END_BYTE 0xA5 /* codec.END */

static PyObject *journal = NULL; /* the active run's Journal, or NULL */
static PyObject *table = NULL;   /* its interned key sets: {keys: (head, pack, pack_auto, n)} */
static PyObject *slow = NULL;    /* the pure-Python log */
static PyObject *cache = NULL;   /* {(kwnames, nargs): (head, step position or -1)} */
static PyObject *last_names = NULL;
static Py_ssize_t last_nargs = -1;
static unsigned long last_head = 0;
static Py_ssize_t last_step = -1;
static unsigned long generation = 0; /* bumped by configure: a value's __float__ may run Python code */
static PyObject *str_write = NULL;
static PyObject *str_step = NULL;

static void forget(void) {
    Py_CLEAR(last_names);
    last_nargs = -1;
    if (cache != NULL) PyDict_Clear(cache);
}

/* The header and step position for these keyword names, or 0 when the key set is not interned. */
static int resolve(PyObject *kwnames, Py_ssize_t nargs, unsigned long *head, Py_ssize_t *step_at) {
    PyObject *key = PyTuple_Pack(2, kwnames, nargs ? Py_True : Py_False);
    if (key == NULL) return -1;
    PyObject *hit = PyDict_GetItemWithError(cache, key);
    if (hit == NULL) {
        if (PyErr_Occurred()) { Py_DECREF(key); return -1; }
        Py_ssize_t n = PyTuple_GET_SIZE(kwnames), at = -1, k = 0;
        PyObject *keys = PyTuple_New(n);
        if (keys == NULL) { Py_DECREF(key); return -1; }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, i);
            if (at < 0 && !nargs && PyUnicode_Compare(name, str_step) == 0) { at = i; continue; }
            Py_INCREF(name);
            PyTuple_SET_ITEM(keys, k++, name);
        }
        if (_PyTuple_Resize(&keys, k) < 0) { Py_DECREF(key); return -1; }
        PyObject *entry = PyDict_GetItemWithError(table, keys);
        Py_DECREF(keys);
        if (entry == NULL || !PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) < 1) {
            Py_DECREF(key);
            return PyErr_Occurred() ? -1 : 0;
        }
        hit = Py_BuildValue("(On)", PyTuple_GET_ITEM(entry, 0), at);
        if (hit == NULL || PyDict_SetItem(cache, key, hit) < 0) { Py_XDECREF(hit); Py_DECREF(key); return -1; }
        Py_DECREF(hit); /* the cache holds it */
    }
    Py_DECREF(key);
    *head = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(hit, 0));
    *step_at = PyLong_AsSsize_t(PyTuple_GET_ITEM(hit, 1));
    if (PyErr_Occurred()) return -1;
    Py_INCREF(kwnames);
    Py_XSETREF(last_names, kwnames);
    last_nargs = nargs;
    last_head = *head;
    last_step = *step_at;
    return 1;
}

/* Pack and write the call; 1 done, 0 the Python path must do it (no exception set). */
static int fast(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    if (journal == NULL || kwnames == NULL || nargs > 1) return 0;
    Py_ssize_t names = PyTuple_GET_SIZE(kwnames);
    unsigned long head;
    Py_ssize_t step_at;
    if (kwnames == last_names && nargs == last_nargs) {
        head = last_head;
        step_at = last_step;
    } else {
        int found = resolve(kwnames, nargs, &head, &step_at);
        if (found <= 0) { PyErr_Clear(); return 0; }
    }
    PyObject *step = nargs ? args[0] : (step_at >= 0 ? args[step_at] : Py_None);
    Py_ssize_t values = names - (step_at >= 0);
    if (values < 1 || values > MAX_VALUES) return 0;
    char buffer[4 + 8 + 8 + 8 * MAX_VALUES + 1];
    char *p = buffer + 4 + 8;
    long long step_value = 0;
    uint32_t tag;
    if (step == Py_None) {
        tag = (uint32_t)(head + 1); /* TAG_AUTO: the header with TAG_STEP, plus one */
    } else if (PyLong_CheckExact(step)) {
        int overflow = 0;
        step_value = PyLong_AsLongLongAndOverflow(step, &overflow);
        if (overflow || (step_value == -1 && PyErr_Occurred())) { PyErr_Clear(); return 0; }
        tag = (uint32_t)head;
        memcpy(p, &step_value, 8);
        p += 8;
    } else {
        return 0;
    }
    unsigned long seen = generation;
    PyObject *const *kwargs = args + nargs;
    for (Py_ssize_t i = 0; i < names; i++) {
        if (i == step_at) continue;
        PyObject *v = kwargs[i];
        double d;
        if (PyFloat_CheckExact(v)) {
            d = PyFloat_AS_DOUBLE(v);
        } else {
            d = PyFloat_AsDouble(v);
            if (d == -1.0 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
        }
        memcpy(p, &d, 8);
        p += 8;
    }
    if (generation != seen) return 0; /* another run became active meanwhile: its own key sets */
    *p++ = (char)END_BYTE;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    memcpy(buffer, &tag, 4);
    memcpy(buffer + 4, &now, 8);
    PyObject *data = PyBytes_FromStringAndSize(buffer, p - buffer);
    if (data == NULL) { PyErr_Clear(); return 0; }
    PyObject *result = PyObject_CallMethodOneArg(journal, str_write, data);
    Py_DECREF(data);
    if (result == NULL) { PyErr_Clear(); return 0; } /* a full segment (nothing written): the slow path */
    Py_DECREF(result);
    return 1;
}

static PyObject *hot_log(PyObject *module, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames) {
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (fast(args, nargs, kwnames)) Py_RETURN_NONE;
    if (slow == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "aieng_nb.tracking._hotpath is not configured");
        return NULL;
    }
    return PyObject_Vectorcall(slow, args, nargs, kwnames);
}

static PyObject *hot_configure(PyObject *module, PyObject *args) {
    PyObject *j, *t, *s;
    if (!PyArg_ParseTuple(args, "OOO", &j, &t, &s)) return NULL;
    if (j != Py_None && !PyDict_Check(t)) {
        PyErr_SetString(PyExc_TypeError, "the key-set table must be a dict");
        return NULL;
    }
    forget();
    generation++;
    if (j == Py_None) {
        Py_CLEAR(journal);
        Py_CLEAR(table);
    } else {
        Py_INCREF(j);
        Py_XSETREF(journal, j);
        Py_INCREF(t);
        Py_XSETREF(table, t);
    }
    Py_INCREF(s);
    Py_XSETREF(slow, s);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"log", (PyCFunction)(void (*)(void))hot_log, METH_FASTCALL | METH_KEYWORDS,
     "log($module, /, step=None, **metrics)\n--\n\n"
     "Log metrics at a step (default: one after the largest step so far). Cheap: journaled."},
    {"configure", hot_configure, METH_VARARGS,
     "configure(journal, table, slow): the active run's journal and key sets (None: no run), and the "
     "Python log every other call goes to."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_hotpath", "aieng.log's fast path in C (see _hotpath.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__hotpath(void) {
    str_write = PyUnicode_InternFromString("write");
    str_step = PyUnicode_InternFromString("step");
    cache = PyDict_New();
    if (str_write == NULL || str_step == NULL || cache == NULL) return NULL;
    return PyModule_Create(&module_def);
}
