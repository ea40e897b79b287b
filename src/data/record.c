/* JSONL dataset records: validation of one line into a Record, writing a
 * Record back as one line, a streaming line reader and a whole-file loader.
 * Images are not opened and meta is not interpreted; that is for the callers. */
#include "thinkrl/data.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>

#include "thinkrl/core.h"

#define UNKNOWN_MAX 64   /* distinct unknown keys remembered; enough for one warning */
#define LOG_FULL_MAX 10  /* bad lines reported in full by dataset_load */

struct DataReader {
    FILE *f;
    int own_f;               /* 0 for stdin */
    char *path;              /* as shown in messages */
    char *buf;               /* getline buffer, reused for every line */
    size_t cap;
    int64_t line;            /* lines read so far */
    int64_t last;            /* line of the last record or error */
    char *unknown[UNKNOWN_MAX];
    int n_unknown;
    int64_t unknown_line;    /* line where unknown[0] was first seen */
};

/* ---- small helpers ---- */

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (!p) {
        tr_err(TR_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(p, s, n);
    return p;
}

static const char *type_name(const cJSON *v) {
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "an invalid value";
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one.
 * Overlong forms, surrogates and code points above U+10FFFF are invalid, so
 * that what we accept is exactly what a strict JSON reader downstream takes. */
static size_t utf8_seq(const unsigned char *s, size_t left) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (left < n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return n;
}

/* cJSON does not check UTF-8, so the raw line is checked first (NUL bytes,
 * "\u0000" and text after the value: tr_json_parse_line). */
static int check_utf8(const char *line, size_t len) {
    const unsigned char *s = (const unsigned char *)line;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(s + i, len - i);
        if (n == 0) return tr_err(TR_EFORMAT, "invalid UTF-8 at column %zu", i + 1);
        i += n;
    }
    return TR_OK;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Shortest of %.15g/%.16g/%.17g that reads back to v (17 digits always do). */
static void num_text(double v, char *out, size_t cap) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return;
    }
}

/* ---- record_parse ---- */

enum { K_ID, K_PROMPT, K_MESSAGES, K_COMPLETION, K_ANSWER, K_IMAGES, K_META, K_N };
static const char *const key_names[K_N] = {"id",     "prompt", "messages", "completion",
                                           "answer", "images", "meta"};

static int key_index(const char *k) {
    for (int i = 0; i < K_N; i++)
        if (strcmp(k, key_names[i]) == 0) return i;
    return -1;
}

static int parse_string(const cJSON *v, const char *field, char **out) {
    if (!cJSON_IsString(v))
        return tr_err(TR_EFORMAT, "field '%s': expected a string (got %s)", field, type_name(v));
    *out = dup_str(v->valuestring);
    return *out ? TR_OK : TR_ENOMEM;
}

static int parse_id(const cJSON *v, int64_t line_no, Record *rec) {
    char buf[64];
    if (!v) {
        snprintf(buf, sizeof buf, "line-%lld", (long long)line_no);
    } else if (cJSON_IsString(v)) {
        rec->id = dup_str(v->valuestring);
        return rec->id ? TR_OK : TR_ENOMEM;
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        /* beyond 2^53 the double no longer holds the integer that was written */
        if (!(d == floor(d) && fabs(d) <= 9007199254740992.0)) {
            num_text(d, buf, sizeof buf);
            return tr_err(TR_EFORMAT, "field 'id': expected a string or an integer (got %s)",
                          buf);
        }
        snprintf(buf, sizeof buf, "%lld", (long long)d);
    } else {
        return tr_err(TR_EFORMAT, "field 'id': expected a string or an integer (got %s)",
                      type_name(v));
    }
    rec->id = dup_str(buf);
    return rec->id ? TR_OK : TR_ENOMEM;
}

static int parse_messages(const cJSON *v, Record *rec) {
    if (!cJSON_IsArray(v))
        return tr_err(TR_EFORMAT, "field 'messages': expected an array (got %s)", type_name(v));
    int n = cJSON_GetArraySize(v);
    if (n == 0) return tr_err(TR_EFORMAT, "field 'messages': empty messages array");
    rec->messages = calloc((size_t)n, sizeof(DataMsg));
    if (!rec->messages) return tr_err(TR_ENOMEM, "out of memory");
    rec->n_messages = n;
    int i = 0;
    char field[64];
    for (const cJSON *m = v->child; m; m = m->next, i++) {
        if (!cJSON_IsObject(m))
            return tr_err(TR_EFORMAT, "field 'messages[%d]': expected an object (got %s)", i,
                          type_name(m));
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!role) return tr_err(TR_EFORMAT, "field 'messages[%d].role': missing", i);
        snprintf(field, sizeof field, "messages[%d].role", i);
        int rc = parse_string(role, field, &rec->messages[i].role);
        if (rc < 0) return rc;
        if (!rec->messages[i].role[0])
            return tr_err(TR_EFORMAT, "field 'messages[%d].role': empty role", i);
        if (!content) return tr_err(TR_EFORMAT, "field 'messages[%d].content': missing", i);
        snprintf(field, sizeof field, "messages[%d].content", i);
        rc = parse_string(content, field, &rec->messages[i].content);
        if (rc < 0) return rc;
    }
    return TR_OK;
}

static int parse_answer(const cJSON *v, Record *rec) {
    if (cJSON_IsString(v)) {
        rec->answer = dup_str(v->valuestring);
        return rec->answer ? TR_OK : TR_ENOMEM;
    }
    if (!cJSON_IsNumber(v))
        return tr_err(TR_EFORMAT, "field 'answer': expected a string or a number (got %s)",
                      type_name(v));
    /* cJSON turns 1e999 into inf, which has no JSON spelling to write back */
    if (!isfinite(v->valuedouble))
        return tr_err(TR_EFORMAT, "field 'answer': number out of range");
    char buf[40];
    num_text(v->valuedouble, buf, sizeof buf);
    rec->answer = dup_str(buf);
    return rec->answer ? TR_OK : TR_ENOMEM;
}

static int parse_images(const cJSON *v, Record *rec) {
    if (!cJSON_IsArray(v))
        return tr_err(TR_EFORMAT, "field 'images': expected an array (got %s)", type_name(v));
    int n = cJSON_GetArraySize(v);
    if (n == 0) return TR_OK;
    rec->images = calloc((size_t)n, sizeof(char *));
    if (!rec->images) return tr_err(TR_ENOMEM, "out of memory");
    rec->n_images = n;
    int i = 0;
    for (const cJSON *s = v->child; s; s = s->next, i++) {
        if (!cJSON_IsString(s))
            return tr_err(TR_EFORMAT, "field 'images[%d]': expected a string (got %s)", i,
                          type_name(s));
        rec->images[i] = dup_str(s->valuestring);
        if (!rec->images[i]) return TR_ENOMEM;
    }
    return TR_OK;
}

static void note_unknown(DataReader *r, const char *key) {
    for (int i = 0; i < r->n_unknown; i++)
        if (strcmp(r->unknown[i], key) == 0) return;
    if (r->n_unknown >= UNKNOWN_MAX) return;
    char *k = dup_str(key);
    if (!k) return; /* only a warning is lost */
    if (r->n_unknown == 0) r->unknown_line = r->line;
    r->unknown[r->n_unknown++] = k;
}

/* record_parse, plus noting the unknown keys of good records in r (may be NULL). */
static int parse_record(const char *line, size_t len, int64_t line_no, Record *rec,
                        DataReader *r) {
    memset(rec, 0, sizeof *rec);
    cJSON *root = tr_json_parse_line(line, len);
    if (!root) return TR_EFORMAT;
    int rc = check_utf8(line, len);
    if (rc < 0) goto cleanup;
    if (!cJSON_IsObject(root)) {
        rc = tr_err(TR_EFORMAT, "top-level value is not an object (got %s)", type_name(root));
        goto cleanup;
    }

    cJSON *f[K_N] = {0};
    for (cJSON *c = root->child; c; c = c->next) {
        int k = key_index(c->string);
        if (k < 0) continue;
        if (f[k]) {
            rc = tr_err(TR_EFORMAT, "field '%s': duplicate key", key_names[k]);
            goto cleanup;
        }
        f[k] = c;
    }
    /* JSON null counts as absent: writers in other languages emit it for
     * optional fields they do not have. */
    for (int k = 0; k < K_N; k++)
        if (f[k] && cJSON_IsNull(f[k])) f[k] = NULL;

    rc = parse_id(f[K_ID], line_no, rec);
    if (rc < 0) goto cleanup;
    if (!f[K_PROMPT] == !f[K_MESSAGES]) {
        rc = tr_err(TR_EFORMAT, "record needs exactly one of 'prompt' and 'messages' (has %s)",
                    f[K_PROMPT] ? "both" : "neither");
        goto cleanup;
    }
    rc = f[K_PROMPT] ? parse_string(f[K_PROMPT], "prompt", &rec->prompt)
                     : parse_messages(f[K_MESSAGES], rec);
    if (rc < 0) goto cleanup;
    if (f[K_COMPLETION] && (rc = parse_string(f[K_COMPLETION], "completion", &rec->completion)) < 0)
        goto cleanup;
    if (f[K_ANSWER] && (rc = parse_answer(f[K_ANSWER], rec)) < 0) goto cleanup;
    if (f[K_IMAGES] && (rc = parse_images(f[K_IMAGES], rec)) < 0) goto cleanup;
    if (f[K_META]) {
        if (!cJSON_IsObject(f[K_META])) {
            rc = tr_err(TR_EFORMAT, "field 'meta': expected an object (got %s)",
                        type_name(f[K_META]));
            goto cleanup;
        }
        rec->meta = cJSON_DetachItemViaPointer(root, f[K_META]);
    } else {
        rec->meta = cJSON_CreateObject();
        if (!rec->meta) {
            rc = tr_err(TR_ENOMEM, "out of memory");
            goto cleanup;
        }
    }
    if (r)
        for (cJSON *c = root->child; c; c = c->next)
            if (key_index(c->string) < 0) note_unknown(r, c->string);
    rc = TR_OK;

cleanup:
    cJSON_Delete(root);
    if (rc < 0) record_free(rec);
    return rc;
}

int record_parse(const char *line, size_t len, int64_t line_no, Record *rec) {
    TR_ASSERT(line && rec);
    return parse_record(line, len, line_no, rec, NULL);
}

void record_free(Record *rec) {
    if (!rec) return;
    free(rec->id);
    free(rec->prompt);
    for (int i = 0; i < rec->n_messages && rec->messages; i++) {
        free(rec->messages[i].role);
        free(rec->messages[i].content);
    }
    free(rec->messages);
    free(rec->completion);
    free(rec->answer);
    for (int i = 0; i < rec->n_images && rec->images; i++) free(rec->images[i]);
    free(rec->images);
    cJSON_Delete(rec->meta);
    memset(rec, 0, sizeof *rec);
}

/* NULL stays NULL; otherwise a copy, or -1 on failure. */
static int copy_opt(char **dst, const char *src) {
    if (!src) return 0;
    *dst = dup_str(src);
    return *dst ? 0 : -1;
}

int record_copy(Record *dst, const Record *src) {
    TR_ASSERT(dst && src);
    memset(dst, 0, sizeof *dst);
    if (copy_opt(&dst->id, src->id) || copy_opt(&dst->prompt, src->prompt) ||
        copy_opt(&dst->completion, src->completion) || copy_opt(&dst->answer, src->answer))
        goto fail;
    if (src->n_messages > 0) {
        dst->messages = calloc((size_t)src->n_messages, sizeof(DataMsg));
        if (!dst->messages) goto fail;
        dst->n_messages = src->n_messages;
        for (int i = 0; i < src->n_messages; i++)
            if (copy_opt(&dst->messages[i].role, src->messages[i].role) ||
                copy_opt(&dst->messages[i].content, src->messages[i].content))
                goto fail;
    }
    if (src->n_images > 0) {
        dst->images = calloc((size_t)src->n_images, sizeof(char *));
        if (!dst->images) goto fail;
        dst->n_images = src->n_images;
        for (int i = 0; i < src->n_images; i++)
            if (copy_opt(&dst->images[i], src->images[i])) goto fail;
    }
    if (src->meta) {
        dst->meta = cJSON_Duplicate(src->meta, 1);
        if (!dst->meta) goto fail;
    }
    return TR_OK;

fail:
    record_free(dst);
    return tr_err(TR_ENOMEM, "out of memory copying a record");
}

/* ---- record_write ---- */

/* A copy of s with each byte that does not start valid UTF-8 replaced by
 * U+FFFD, or NULL when s is valid (nothing to copy) or memory runs out (*oom).
 * Model output cut mid-character must still give a line that strict JSON
 * readers, this one included, accept. */
static char *utf8_fixed(const char *s, bool *oom) {
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s), i = 0, k;
    while (i < len && (k = utf8_seq(u + i, len - i)) > 0) i += k;
    if (i == len) return NULL;
    char *out = malloc(len * 3 + 1);
    if (!out) {
        *oom = true;
        return NULL;
    }
    memcpy(out, s, i);
    size_t o = i;
    while (i < len) {
        k = utf8_seq(u + i, len - i);
        if (k == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        }
    }
    out[o] = 0;
    return out;
}

static cJSON *make_str(const char *s) {
    bool oom = false;
    char *fixed = utf8_fixed(s, &oom);
    if (oom) return NULL;
    cJSON *v = cJSON_CreateString(fixed ? fixed : s);
    free(fixed);
    return v;
}

/* Adds key: s (valid UTF-8) to o; false when out of memory. */
static bool add_str(cJSON *o, const char *key, const char *s) {
    cJSON *v = make_str(s);
    if (!v) return false;
    if (!cJSON_AddItemToObject(o, key, v)) {
        cJSON_Delete(v);
        return false;
    }
    return true;
}

/* The answer is always written as a string: its text reads back unchanged,
 * while a number would lose spellings such as "1.0" or "042". */
int record_write(FILE *f, const Record *rec) {
    TR_ASSERT(f && rec);
    int rc;
    char *text = NULL;
    cJSON *o = NULL;
    bool has_msgs = rec->messages && rec->n_messages > 0;
    if (!rec->prompt == !has_msgs)
        return tr_err(TR_EINVAL, "record_write: record needs exactly one of prompt and messages");
    for (int i = 0; has_msgs && i < rec->n_messages; i++)
        if (!rec->messages[i].role || !rec->messages[i].role[0] || !rec->messages[i].content)
            return tr_err(TR_EINVAL, "record_write: messages[%d] lacks a role or content", i);
    for (int i = 0; i < rec->n_images; i++)
        if (!rec->images || !rec->images[i])
            return tr_err(TR_EINVAL, "record_write: images[%d] is NULL", i);
    if (rec->meta && !cJSON_IsObject(rec->meta))
        return tr_err(TR_EINVAL, "record_write: meta is not an object");

    o = cJSON_CreateObject();
    if (!o) goto oom;
    if (rec->id && !add_str(o, "id", rec->id)) goto oom;
    if (rec->prompt) {
        if (!add_str(o, "prompt", rec->prompt)) goto oom;
    } else {
        cJSON *arr = cJSON_AddArrayToObject(o, "messages");
        if (!arr) goto oom;
        for (int i = 0; i < rec->n_messages; i++) {
            cJSON *m = cJSON_CreateObject();
            if (!m) goto oom;
            if (!cJSON_AddItemToArray(arr, m)) {
                cJSON_Delete(m);
                goto oom;
            }
            if (!add_str(m, "role", rec->messages[i].role) ||
                !add_str(m, "content", rec->messages[i].content))
                goto oom;
        }
    }
    if (rec->completion && !add_str(o, "completion", rec->completion)) goto oom;
    if (rec->answer && !add_str(o, "answer", rec->answer)) goto oom;
    if (rec->n_images > 0) {
        cJSON *arr = cJSON_AddArrayToObject(o, "images");
        if (!arr) goto oom;
        for (int i = 0; i < rec->n_images; i++) {
            cJSON *s = make_str(rec->images[i]);
            if (!s) goto oom;
            if (!cJSON_AddItemToArray(arr, s)) {
                cJSON_Delete(s);
                goto oom;
            }
        }
    }
    /* a reference prints like the item but is not freed with o */
    if (rec->meta && rec->meta->child &&
        !cJSON_AddItemReferenceToObject(o, "meta", (cJSON *)rec->meta))
        goto oom;

    text = cJSON_PrintUnformatted(o);
    if (!text) goto oom;
    size_t n = strlen(text);
    if (fwrite(text, 1, n, f) != n || fputc('\n', f) == EOF) {
        rc = tr_err(TR_EIO, "write failed: %s", strerror(errno));
        goto cleanup;
    }
    rc = TR_OK;
    goto cleanup;

oom:
    rc = tr_err(TR_ENOMEM, "out of memory writing a record");
cleanup:
    cJSON_free(text);
    cJSON_Delete(o);
    return rc;
}

/* ---- meta ---- */

static int meta_put(Record *rec, const char *key, cJSON *item) {
    bool oom = false;
    char *fixed = item ? utf8_fixed(key, &oom) : NULL; /* keys are written too */
    if (!item || oom) goto fail;
    if (fixed) key = fixed;
    if (!rec->meta && !(rec->meta = cJSON_CreateObject())) goto fail;
    cJSON_bool ok;
    if (cJSON_GetObjectItemCaseSensitive(rec->meta, key))
        ok = cJSON_ReplaceItemInObjectCaseSensitive(rec->meta, key, item);
    else
        ok = cJSON_AddItemToObject(rec->meta, key, item);
    if (!ok) goto fail;
    free(fixed);
    return TR_OK;

fail:
    free(fixed);
    cJSON_Delete(item);
    return tr_err(TR_ENOMEM, "out of memory");
}

int record_meta_set_str(Record *rec, const char *key, const char *val) {
    TR_ASSERT(rec && key && val);
    return meta_put(rec, key, make_str(val));
}

int record_meta_set_num(Record *rec, const char *key, double val) {
    TR_ASSERT(rec && key);
    return meta_put(rec, key, cJSON_CreateNumber(val));
}

int record_meta_set_nums(Record *rec, const char *key, const double *vals, int n) {
    TR_ASSERT(rec && key && n >= 0 && (vals || n == 0));
    /* cJSON_CreateDoubleArray refuses an empty input */
    return meta_put(rec, key, n > 0 ? cJSON_CreateDoubleArray(vals, n) : cJSON_CreateArray());
}

static const cJSON *meta_get(const Record *rec, const char *key) {
    if (!rec || !rec->meta || !key) return NULL;
    return cJSON_GetObjectItemCaseSensitive(rec->meta, key);
}

const char *record_meta_str(const Record *rec, const char *key) {
    const cJSON *v = meta_get(rec, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

double record_meta_num(const Record *rec, const char *key, double fallback) {
    const cJSON *v = meta_get(rec, key);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

int record_meta_nums(const Record *rec, const char *key, double *out, int max) {
    const cJSON *v = meta_get(rec, key);
    if (!cJSON_IsArray(v)) return -1;
    int n = 0;
    for (const cJSON *c = v->child; c; c = c->next, n++)
        if (!cJSON_IsNumber(c)) return -1;
    n = 0;
    for (const cJSON *c = v->child; c; c = c->next, n++)
        if (n < max && out) out[n] = c->valuedouble;
    return n;
}

/* ---- streaming reader ---- */

int data_open(DataReader **out, const char *path) {
    TR_ASSERT(out && path);
    *out = NULL;
    DataReader *r = calloc(1, sizeof *r);
    if (!r) return tr_err(TR_ENOMEM, "out of memory");
    bool is_stdin = strcmp(path, "-") == 0;
    r->path = dup_str(is_stdin ? "<stdin>" : path);
    if (!r->path) {
        free(r);
        return TR_ENOMEM;
    }
    if (is_stdin) {
        r->f = stdin;
    } else {
        r->f = fopen(path, "rb");
        if (!r->f) {
            int rc = tr_err(TR_EIO, "%s: cannot open: %s", path, strerror(errno));
            free(r->path);
            free(r);
            return rc;
        }
        r->own_f = 1;
    }
    *out = r;
    return TR_OK;
}

int data_next(DataReader *r, Record *rec) {
    TR_ASSERT(r && rec);
    memset(rec, 0, sizeof *rec);
    for (;;) {
        errno = 0;
        ssize_t got = getline(&r->buf, &r->cap, r->f);
        if (got < 0) {
            if (ferror(r->f) || errno == ENOMEM || errno == EOVERFLOW)
                return tr_err(errno == ENOMEM ? TR_ENOMEM : TR_EIO, "%s:%lld: read error: %s",
                              r->path, (long long)r->line + 1, strerror(errno));
            return 0;
        }
        r->line++;
        const char *s = r->buf;
        size_t len = (size_t)got;
        if (r->line == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3;
            len -= 3;
        }
        if (len > 0 && s[len - 1] == '\n') len--;
        if (len > 0 && s[len - 1] == '\r') len--;
        size_t i = 0;
        while (i < len && is_ws(s[i])) i++;
        if (i == len) continue;
        r->last = r->line;
        int rc = parse_record(s, len, r->line, rec, r);
        if (rc < 0) return tr_err_ctx(rc, "%s:%lld", r->path, (long long)r->line);
        return 1;
    }
}

int64_t data_line(const DataReader *r) { return r->last; }
const char *data_path(const DataReader *r) { return r->path; }

int data_unknown_keys(const DataReader *r, const char **first, int64_t *first_line) {
    if (first) *first = r->n_unknown ? r->unknown[0] : NULL;
    if (first_line) *first_line = r->n_unknown ? r->unknown_line : 0;
    return r->n_unknown;
}

void data_close(DataReader *r) {
    if (!r) return;
    if (r->own_f) fclose(r->f);
    for (int i = 0; i < r->n_unknown; i++) free(r->unknown[i]);
    free(r->buf);
    free(r->path);
    free(r);
}

/* ---- whole file ---- */

int dataset_load(Dataset *d, const char *path, int skip_bad, FILE *log) {
    TR_ASSERT(d && path);
    memset(d, 0, sizeof *d);
    DataReader *r = NULL;
    int64_t cap = 0;
    int rc = data_open(&r, path);
    if (rc < 0) return rc;
    for (;;) {
        Record rec;
        rc = data_next(r, &rec);
        if (rc == 0) break;
        if (rc < 0) {
            /* only bad content is skippable; I/O and memory failures are not */
            if (!skip_bad || rc != TR_EFORMAT) goto fail;
            d->skipped++;
            if (log && d->skipped <= LOG_FULL_MAX) fprintf(log, "skipping %s\n", tr_errmsg());
            continue;
        }
        if (d->n == cap) {
            int64_t nc = cap ? cap * 2 : 64;
            Record *nr = realloc(d->rec, (size_t)nc * sizeof(Record));
            if (!nr) {
                record_free(&rec);
                rc = tr_err(TR_ENOMEM, "%s: out of memory after %lld records", data_path(r),
                            (long long)d->n);
                goto fail;
            }
            d->rec = nr;
            cap = nc;
        }
        d->rec[d->n++] = rec;
    }
    if (log && d->skipped > 0)
        fprintf(log, "skipped %lld bad line%s of %s\n", (long long)d->skipped,
                d->skipped == 1 ? "" : "s", data_path(r));
    if (d->n == 0) {
        if (d->skipped > 0)
            rc = tr_err(TR_EFORMAT, "%s: no records (%lld bad lines skipped)", data_path(r),
                        (long long)d->skipped);
        else
            rc = tr_err(TR_EFORMAT, "%s: no records", data_path(r));
        goto fail;
    }
    data_close(r);
    return TR_OK;

fail:
    data_close(r);
    dataset_free(d);
    return rc;
}

void dataset_free(Dataset *d) {
    if (!d) return;
    for (int64_t i = 0; i < d->n; i++) record_free(&d->rec[i]);
    free(d->rec);
    memset(d, 0, sizeof *d);
}
