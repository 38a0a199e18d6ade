/* The plain-trace fast path: one block of a trace file parsed straight into arrays, without the GIL.
 *
 * "Plain" is the trace as `write_trace` and the gateway's recorder write it: printable ASCII, one row
 * a line, exactly the header's number of fields, numbers as optional minus, digits and an optional
 * dot with digits (or empty: missing). Anything else (a quote, a comment or blank line, a carriage
 * return, an exponent, text, non-ASCII bytes, a field count that differs) is not judged here at all:
 * `parse` returns None and the block goes to the general readers (pyarrow, then Python), which
 * decide every odd case. So this file needs no error policy of its own; it only has to be exact on
 * what it accepts.
 *
 * Exactness: a number is its integer mantissa m (at most 2**53) divided by 10**f (f <= 22), both
 * exact doubles, so one IEEE division rounds it correctly: the same double as any correctly rounded
 * parser (pyarrow's, strtod). Longer numbers are left to the general readers. The differential
 * tests in tests/devices/trace/test_plain.py hold this against pyarrow on generated blocks.
 *
 * The caller passes preallocated output buffers (one row per line at most) through the buffer
 * protocol, so the parse itself touches no Python object and runs with the GIL released: blocks are
 * parsed on as many threads as there are cores.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define MAX_COLS 64
#define MAX_ID_LEN 255
#define SLOTS 4096          /* wrap-id hash slots; a block with more than half as many ids bails */
#define MAX_IDS (SLOTS / 2)

static const double POW10[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* Byte classes: 0 ordinary printable, 1 comma, 2 newline, 3 anything that makes a block not plain. */
static unsigned char CLASS[256];

static void init_classes(void) {
    for (int c = 0; c < 256; c++) {
        CLASS[c] = (c >= 0x20 && c < 0x7f && c != '"') ? 0 : 3;
    }
    CLASS[','] = 1;
    CLASS['\n'] = 2;
}

/* The number starting at *pp, read up to the byte that ends it (left at *pp): 0 and the value
 * (NaN when the field is empty), or -1 when it is not plain. "5", "5.25", "-0.5" are plain; "-",
 * ".5", "5.", "1e3", "+5", " 5" are not (left to the general readers' judgement). */
static inline int parse_number(const char **pp, const char *stop, double *out) {
    const char *p = *pp;
    if (p >= stop || *p == ',' || *p == '\n') {
        *out = NAN;
        return 0;
    }
    int neg = *p == '-';
    p += neg;
    const char *digits = p;
    uint64_t m = 0;
    unsigned d;
    while (p < stop && (d = (unsigned)(unsigned char)*p - '0') < 10) {
        m = m * 10 + d;
        p++;
    }
    int before = (int)(p - digits), frac = 0;
    if (before == 0) return -1;
    if (p < stop && *p == '.') {
        const char *dot = ++p;
        while (p < stop && (d = (unsigned)(unsigned char)*p - '0') < 10) {
            m = m * 10 + d;
            p++;
        }
        frac = (int)(p - dot);
        if (frac == 0) return -1;
    }
    /* At most 19 digits (m has not wrapped), m exact as a double, 10**frac exact. */
    if (before + frac > 19 || m > (UINT64_C(1) << 53) || frac > 22) return -1;
    double v = (double)m;
    if (frac) v /= POW10[frac];
    *out = neg ? -v : v;
    *pp = p;
    return 0;
}

typedef struct {
    Py_ssize_t off; /* of the id's first byte in the data */
    int len;        /* 0: empty slot */
} id_slot;

typedef struct {
    id_slot slots[SLOTS];
    int slot_code[SLOTS];
    Py_ssize_t first_off[MAX_IDS];
    int first_len[MAX_IDS];
    int n;
} id_table;

/* The code of the id [s, s + len) (hash h) in `data`, added on first sight; -1 when the table is full. */
static int id_code(id_table *t, const char *data, const char *s, int len, uint32_t h) {
    unsigned i = h & (SLOTS - 1);
    for (;;) {
        id_slot *slot = &t->slots[i];
        if (slot->len == 0) {
            if (t->n >= MAX_IDS) return -1;
            slot->off = s - data;
            slot->len = len;
            t->slot_code[i] = t->n;
            t->first_off[t->n] = slot->off;
            t->first_len[t->n] = len;
            return t->n++;
        }
        if (slot->len == len && memcmp(data + slot->off, s, (size_t)len) == 0) return t->slot_code[i];
        i = (i + 1) & (SLOTS - 1);
    }
}

/* Parse lines of [start, end); rows parsed, or -1 when the block is not plain. */
static Py_ssize_t parse_block(const char *data, Py_ssize_t start, Py_ssize_t end, int ncols, int wrap_pos,
                              double *const *num_out, const char *checked, Py_ssize_t capacity,
                              int32_t *codes, id_table *ids) {
    const char *p = data + start, *stop = data + end;
    Py_ssize_t row = 0;
    while (p < stop) {
        if (row >= capacity) return -1;
        if (*p == '#' || *p == '\n') return -1; /* a comment or blank line */
        for (int col = 0; col < ncols; col++) {
            if (col == wrap_pos) {
                const char *s = p;
                uint32_t h = 2166136261u; /* FNV-1a */
                while (p < stop && CLASS[(unsigned char)*p] == 0) {
                    h = (h ^ (unsigned char)*p) * 16777619u;
                    p++;
                }
                Py_ssize_t len = p - s;
                if (len == 0) {
                    codes[row] = -1;
                } else {
                    if (len > MAX_ID_LEN) return -1;
                    int code = id_code(ids, data, s, (int)len, h);
                    if (code < 0) return -1;
                    codes[row] = code;
                }
            } else if (checked[col]) {
                double v;
                if (parse_number(&p, stop, &v) != 0) return -1;
                if (num_out[col] != NULL) num_out[col][row] = v;
            } else {
                while (p < stop && CLASS[(unsigned char)*p] == 0) p++;
            }
            /* A field ends at a comma, except the last, which ends at a newline or the block's end. */
            if (col == ncols - 1) {
                if (p < stop && *p != '\n') return -1;
            } else if (p >= stop || *p != ',') {
                return -1;
            }
            p++;
        }
        row++;
    }
    return row;
}

static int get_output(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, Py_ssize_t capacity) {
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (view->len < itemsize * capacity) {
        PyErr_SetString(PyExc_ValueError, "output buffer too small");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(parse_doc,
             "parse(data, start, end, ncols, wrap_pos, numbers, codes) -> (rows, names) | None\n\n"
             "Parse the lines of data[start:end] (each with exactly ncols fields). Field wrap_pos is "
             "the wrap id: its code (first-seen order, -1 when empty) goes to the int32 buffer codes "
             "and its text to names. numbers[i] says what field i is: a float64 buffer to fill (a "
             "plain number, or empty: NaN), True (a plain number or empty, not kept) or None (not "
             "read). The buffers hold at least one row per line. None when the block is not plain.");

static PyObject *plain_parse(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer data, codes_view;
    Py_ssize_t start, end;
    int ncols, wrap_pos;
    PyObject *numbers, *codes_obj;
    if (!PyArg_ParseTuple(args, "y*nniiOO", &data, &start, &end, &ncols, &wrap_pos, &numbers, &codes_obj))
        return NULL;
    PyObject *result = NULL;
    Py_buffer views[MAX_COLS];
    double *num_out[MAX_COLS];
    char checked[MAX_COLS];
    int held = 0, have_codes = 0;
    id_table *ids = NULL;
    if (start < 0 || end > data.len || start > end || ncols < 1 || wrap_pos < 0 || wrap_pos >= ncols) {
        PyErr_SetString(PyExc_ValueError, "bad block or layout");
        goto done;
    }
    if (ncols > MAX_COLS) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    if (!PyTuple_Check(numbers) || PyTuple_GET_SIZE(numbers) != ncols) {
        PyErr_SetString(PyExc_TypeError, "numbers must be a tuple of ncols buffers or None");
        goto done;
    }
    if (PyObject_GetBuffer(codes_obj, &codes_view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) goto done;
    have_codes = 1;
    Py_ssize_t capacity = codes_view.len / (Py_ssize_t)sizeof(int32_t);
    for (int i = 0; i < ncols; i++) {
        PyObject *item = PyTuple_GET_ITEM(numbers, i);
        num_out[i] = NULL;
        checked[i] = item != Py_None && i != wrap_pos;
        if (item == Py_None || item == Py_True || i == wrap_pos) continue;
        if (get_output(item, &views[held], (Py_ssize_t)sizeof(double), capacity) < 0) goto done;
        num_out[i] = (double *)views[held].buf;
        held++;
    }
    ids = PyMem_RawCalloc(1, sizeof(id_table));
    if (ids == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t rows;
    Py_BEGIN_ALLOW_THREADS
    rows = parse_block((const char *)data.buf, start, end, ncols, wrap_pos, num_out, checked, capacity,
                       (int32_t *)codes_view.buf, ids);
    Py_END_ALLOW_THREADS
    if (rows < 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    PyObject *names = PyList_New(ids->n);
    if (names == NULL) goto done;
    for (int i = 0; i < ids->n; i++) {
        PyObject *name = PyUnicode_DecodeASCII((const char *)data.buf + ids->first_off[i], ids->first_len[i], NULL);
        if (name == NULL) {
            Py_DECREF(names);
            goto done;
        }
        PyList_SET_ITEM(names, i, name);
    }
    result = Py_BuildValue("(nN)", rows, names);
done:
    PyMem_RawFree(ids);
    for (int i = 0; i < held; i++) PyBuffer_Release(&views[i]);
    if (have_codes) PyBuffer_Release(&codes_view);
    PyBuffer_Release(&data);
    return result;
}

PyDoc_STRVAR(lines_doc, "lines(data, start, end) -> int\n\nLines in data[start:end]: its newlines, plus one "
                        "for a last line without one. The row capacity parse needs.");

static PyObject *plain_lines(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer data;
    Py_ssize_t start, end, n = 0;
    if (!PyArg_ParseTuple(args, "y*nn", &data, &start, &end)) return NULL;
    if (start < 0 || end > data.len || start > end) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "bad block");
        return NULL;
    }
    const char *p = (const char *)data.buf + start, *stop = (const char *)data.buf + end;
    Py_BEGIN_ALLOW_THREADS
    while (p < stop) {
        const char *nl = memchr(p, '\n', (size_t)(stop - p));
        n++;
        if (nl == NULL) break;
        p = nl + 1;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return PyLong_FromSsize_t(n);
}

PyDoc_STRVAR(scatter_doc,
             "scatter(codes, starts, sources, targets) -> None\n\n"
             "Move each row i with codes[i] >= 0 (int32) to row starts[codes[i]] of every target, "
             "then advance that start (int64, updated in place): rows of one code keep their order. "
             "sources[k] and targets[k] have the same item size, 8 or 1 bytes; a source of None "
             "writes NaN (8 bytes) or 0 (1 byte). The caller sees to it that every start stays "
             "inside the targets.");

static PyObject *plain_scatter(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *codes_obj, *starts_obj, *sources, *targets;
    if (!PyArg_ParseTuple(args, "OOO!O!", &codes_obj, &starts_obj, &PyTuple_Type, &sources, &PyTuple_Type,
                          &targets))
        return NULL;
    Py_ssize_t k_count = PyTuple_GET_SIZE(sources);
    if (k_count != PyTuple_GET_SIZE(targets) || k_count > MAX_COLS) {
        PyErr_SetString(PyExc_ValueError, "sources and targets must pair up (at most 64)");
        return NULL;
    }
    Py_buffer codes, starts, src[MAX_COLS], dst[MAX_COLS];
    int have_src[MAX_COLS] = {0}, n_dst = 0, ok = 0;
    if (PyObject_GetBuffer(codes_obj, &codes, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (PyObject_GetBuffer(starts_obj, &starts, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&codes);
        return NULL;
    }
    Py_ssize_t n = codes.len / (Py_ssize_t)sizeof(int32_t);
    Py_ssize_t n_codes = starts.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t itemsize[MAX_COLS];
    for (Py_ssize_t k = 0; k < k_count; k++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(targets, k), &dst[k], PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
            goto done;
        n_dst++;
        itemsize[k] = dst[k].itemsize;
        if (itemsize[k] != 8 && itemsize[k] != 1) {
            PyErr_SetString(PyExc_ValueError, "items of 8 or 1 bytes only");
            goto done;
        }
        PyObject *source = PyTuple_GET_ITEM(sources, k);
        if (source == Py_None) continue;
        if (PyObject_GetBuffer(source, &src[k], PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) goto done;
        have_src[k] = 1;
        if (src[k].itemsize != itemsize[k] || src[k].len < n * itemsize[k]) {
            PyErr_SetString(PyExc_ValueError, "a source does not match its target or the codes");
            goto done;
        }
    }
    /* Every row must land inside its target: the codes and the final starts are checked first. */
    const int32_t *c = (const int32_t *)codes.buf;
    int64_t *pos = (int64_t *)starts.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t smallest = PY_SSIZE_T_MAX;
    for (Py_ssize_t k = 0; k < k_count; k++) {
        Py_ssize_t rows = dst[k].len / itemsize[k];
        if (rows < smallest) smallest = rows;
    }
    int64_t *cur = PyMem_RawMalloc(sizeof(int64_t) * (size_t)(n_codes ? n_codes : 1));
    if (cur == NULL) {
        bad = 2;
    } else {
        memcpy(cur, pos, sizeof(int64_t) * (size_t)n_codes);
        for (Py_ssize_t i = 0; i < n && !bad; i++) {
            int32_t w = c[i];
            if (w < 0) continue;
            if (w >= n_codes) bad = 1;
            else cur[w]++;
        }
        for (Py_ssize_t w = 0; w < n_codes && !bad; w++)
            if (pos[w] < 0 || cur[w] > smallest) bad = 1;
    }
    for (Py_ssize_t k = 0; k < k_count && !bad; k++) {
        memcpy(cur, pos, sizeof(int64_t) * (size_t)n_codes);
        if (itemsize[k] == 8) {
            uint64_t *out = (uint64_t *)dst[k].buf;
            const uint64_t *in = have_src[k] ? (const uint64_t *)src[k].buf : NULL;
            double nan = NAN;
            uint64_t fill;
            memcpy(&fill, &nan, sizeof fill);
            for (Py_ssize_t i = 0; i < n; i++) {
                int32_t w = c[i];
                if (w >= 0) out[cur[w]++] = in ? in[i] : fill;
            }
        } else {
            uint8_t *out = (uint8_t *)dst[k].buf;
            const uint8_t *in = have_src[k] ? (const uint8_t *)src[k].buf : NULL;
            for (Py_ssize_t i = 0; i < n; i++) {
                int32_t w = c[i];
                if (w >= 0) out[cur[w]++] = in ? in[i] : 0;
            }
        }
    }
    if (!bad && cur != NULL) memcpy(pos, cur, sizeof(int64_t) * (size_t)n_codes);
    PyMem_RawFree(cur);
    Py_END_ALLOW_THREADS
    if (bad == 2) {
        PyErr_NoMemory();
        goto done;
    }
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "a code or a start falls outside the targets");
        goto done;
    }
    ok = 1;
done:
    for (Py_ssize_t k = 0; k < k_count; k++)
        if (have_src[k]) PyBuffer_Release(&src[k]);
    for (int k = 0; k < n_dst; k++) PyBuffer_Release(&dst[k]);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&codes);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef plain_methods[] = {
    {"scatter", plain_scatter, METH_VARARGS, scatter_doc},
    {"parse", plain_parse, METH_VARARGS, parse_doc},
    {"lines", plain_lines, METH_VARARGS, lines_doc},
    {NULL, NULL, 0, NULL},
};

static int plain_exec(PyObject *module) {
    (void)module;
    init_classes();
    return 0;
}

static PyModuleDef_Slot plain_slots[] = {
    {Py_mod_exec, plain_exec},
    {0, NULL},
};

static struct PyModuleDef plain_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "kmc_monitor.devices.trace._plain",
    .m_doc = "The plain-trace fast path: blocks of plain numeric trace rows parsed without the GIL.",
    .m_size = 0,
    .m_methods = plain_methods,
    .m_slots = plain_slots,
};

PyMODINIT_FUNC PyInit__plain(void) { return PyModuleDef_Init(&plain_module); }
