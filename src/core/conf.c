/* Run configuration: a typed key table bound to struct fields; defaults, a
 * YAML file (libyaml events, nested mappings flattened to dotted keys) and
 * "a.b=value" overrides; unknown keys get a suggestion; the effective config
 * is written back as YAML that reads back to the same values. Not a general
 * YAML library: one document, no aliases, scalars (and, for strings, lists
 * of scalars) as values. Override values are taken literally: "a=null" sets
 * the text "null", only YAML gives null its meaning. */
#include "thinkrl/conf.h"
#include "thinkrl/core.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* ---------------------------------------------------------------- buffers */

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} Buf;

static void buf_add(Buf *b, const char *s, size_t len) {
    if (b->oom) return;
    if (len > SIZE_MAX / 4 - b->n) {
        b->oom = 1;
        return;
    }
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len + 1) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

static void buf_puts(Buf *b, const char *s) { buf_add(b, s, strlen(s)); }
static void buf_putc(Buf *b, char c) { buf_add(b, &c, 1); }

static void buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(Buf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        buf_add(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf_add(b, big, (size_t)n);
    free(big);
}

/* User text quoted in a message: at most 60 bytes, cut on a character
 * boundary with "..." appended, control characters shown as '?'. */
#define SHOW_CAP 72
static const char *show(const char *s, char *out) {
    size_t n = strlen(s), k = n > 60 ? 60 : n;
    while (k < n && k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (k < n)
        memcpy(out + k, "...", 4);
    else
        out[k] = 0;
    return out;
}

static const char *schema_name(const ConfSchema *s) { return s->name ? s->name : "config"; }

/* ------------------------------------------------------------ value syntax */

/* [+-]digits[.digits][e[+-]digits] or [+-].digits...: what strtod may read.
 * Hex, inf, nan, '_' separators and surrounding junk are refused. */
static int is_decimal(const char *s) {
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    int nd = 0;
    while (isdigit((unsigned char)*p)) p++, nd++;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) p++, nd++;
    }
    if (nd == 0) return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!isdigit((unsigned char)*p)) return 0;
        while (isdigit((unsigned char)*p)) p++;
    }
    return *p == 0;
}

static int parse_f64(const char *s, double *out) {
    if (!is_decimal(s)) return -1;
    double v = strtod(s, NULL);
    if (!isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* Decimal integer, or a float literal that is exactly an integer ("1e6",
 * "2.0"); step counts are often written that way. Above 2^53 the float
 * form could have been rounded, so only plain digits are taken there. */
static int parse_i64(const char *s, int64_t *out) {
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (*p && strspn(p, "0123456789") == strlen(p)) {
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        if (errno == ERANGE) return -1;
        *out = (int64_t)v;
        return 0;
    }
    double d;
    if (parse_f64(s, &d) != 0) return -1;
    if (d != floor(d) || fabs(d) > 9007199254740992.0) return -1;
    *out = (int64_t)d;
    return 0;
}

static int parse_bool(const char *s, int *out) {
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) return *out = 1, 0;
        if (strcasecmp(s, no[i]) == 0) return *out = 0, 0;
    }
    return -1;
}

/* Returns the choice in "a|b|c" equal to s, or NULL. */
static const char *enum_find(const char *choices, const char *s, size_t *len) {
    size_t n = strlen(s);
    const char *p = choices;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == n && memcmp(p, s, n) == 0) {
            *len = l;
            return p;
        }
        p = bar ? bar + 1 : NULL;
    }
    return NULL;
}

/* Strict UTF-8: no overlong forms, surrogates or code points past U+10FFFF
 * (libyaml refuses those, so they could not be written back). Returns the
 * length of the character at s and its code point, or 0 if invalid. */
static int utf8_next(const unsigned char *s, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) return *cp = c, 1;
    int n;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0)
        n = 1, v = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
        n = 2, v = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
        n = 3, v = c & 0x07, min = 0x10000;
    else
        return 0;
    for (int i = 1; i <= n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0; /* also stops at the NUL */
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return n + 1;
}

static int utf8_valid(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    uint32_t cp;
    while (*p) {
        int k = utf8_next(p, &cp);
        if (!k) return 0;
        p += k;
    }
    return 1;
}

/* ----------------------------------------------------------------- ranges */

typedef struct {
    int lo_set, hi_set, lo_open, hi_open;
    double lo, hi;
    int64_t ilo, ihi;
} Range;

/* "lo..hi" of an INT / FLOAT field, either end may be left out; "lo<.."
 * and "..<hi" leave the bound itself out (0<..1 is (0, 1]). 0 with nothing
 * set when it has none. */
static int range_parse(const ConfField *f, Range *r) {
    memset(r, 0, sizeof *r);
    if (!f->choices || (f->type != CONF_INT && f->type != CONF_FLOAT)) return 0;
    const char *dd = strstr(f->choices, "..");
    if (!dd) return -1;
    char lo[64], hi[64];
    size_t nl = (size_t)(dd - f->choices), nh = strlen(dd + 2);
    if (nl >= sizeof lo || nh >= sizeof hi) return -1;
    memcpy(lo, f->choices, nl);
    lo[nl] = 0;
    memcpy(hi, dd + 2, nh + 1);
    if (nl && lo[nl - 1] == '<') {
        r->lo_open = 1;
        lo[--nl] = 0;
        if (!nl) return -1;
    }
    if (nh && hi[0] == '<') {
        r->hi_open = 1;
        memmove(hi, hi + 1, nh--);
        if (!nh) return -1;
    }
    if (nl) {
        r->lo_set = 1;
        if (f->type == CONF_INT ? parse_i64(lo, &r->ilo) : parse_f64(lo, &r->lo)) return -1;
    }
    if (nh) {
        r->hi_set = 1;
        if (f->type == CONF_INT ? parse_i64(hi, &r->ihi) : parse_f64(hi, &r->hi)) return -1;
    }
    if (r->lo_set && r->hi_set && (f->type == CONF_INT ? r->ilo > r->ihi : r->lo > r->hi))
        return -1;
    return 0;
}

static int out_of_range(const Range *r, double v) {
    return (r->lo_set && (r->lo_open ? !(v > r->lo) : !(v >= r->lo))) ||
           (r->hi_set && (r->hi_open ? !(v < r->hi) : !(v <= r->hi)));
}

static int out_of_irange(const Range *r, int64_t v) {
    return (r->lo_set && (r->lo_open ? v <= r->ilo : v < r->ilo)) ||
           (r->hi_set && (r->hi_open ? v >= r->ihi : v > r->ihi));
}

static int range_err(const ConfField *f, const char *val) {
    char sh[SHOW_CAP];
    return tr_err(TR_EINVAL, "%s: %s is out of range %s", f->key, show(val, sh), f->choices);
}

/* ---------------------------------------------------------------- fields */

static const char *type_name(ConfType t) {
    switch (t) {
    case CONF_INT: return "int";
    case CONF_FLOAT: return "float";
    case CONF_BOOL: return "bool";
    case CONF_STR: return "string";
    case CONF_ENUM: return "enum";
    }
    return "?";
}

static const char *expect_text(const ConfField *f, char *buf, size_t cap) {
    switch (f->type) {
    case CONF_INT: return "an integer";
    case CONF_FLOAT: return "a number";
    case CONF_BOOL: return "true or false";
    case CONF_STR: return "a string";
    case CONF_ENUM: snprintf(buf, cap, "one of %s", f->choices ? f->choices : ""); return buf;
    }
    return "?";
}

/* Assigns text to one field. The field changes only on success. is_null:
 * a YAML null (strings take "", other types refuse it). */
static int set_field(const ConfField *f, void *obj, const char *val, int is_null) {
    char *p = (char *)obj + f->off;
    char sh[SHOW_CAP], ex[256];
    if (is_null && f->type != CONF_STR)
        return tr_err(TR_EINVAL, "%s: expected %s, got null", f->key, expect_text(f, ex, sizeof ex));
    if (f->type == CONF_STR) {
        if (is_null) val = "";
        if (!utf8_valid(val))
            return tr_err(TR_EINVAL, "%s: value is not valid UTF-8: '%s'", f->key, show(val, sh));
        char *dup = strdup(val);
        if (!dup) return tr_err(TR_ENOMEM, "%s: out of memory", f->key);
        char *old;
        memcpy(&old, p, sizeof old);
        free(old);
        memcpy(p, &dup, sizeof dup);
        return TR_OK;
    }
    /* Other types ignore surrounding blanks (a quoted ' 5' is still 5). */
    char t[256];
    size_t b = strspn(val, " \t"), n = strlen(val + b);
    while (n > 0 && (val[b + n - 1] == ' ' || val[b + n - 1] == '\t')) n--;
    int fits = n < sizeof t;
    if (fits) {
        memcpy(t, val + b, n);
        t[n] = 0;
    }
    Range r;
    if (range_parse(f, &r) != 0)
        return tr_err(TR_EINVAL, "%s: bad range '%s' in the schema", f->key, f->choices);
    switch (f->type) {
    case CONF_INT: {
        int64_t v;
        if (!fits || parse_i64(t, &v) != 0)
            return tr_err(TR_EINVAL, "%s: expected an integer, got '%s'", f->key, show(val, sh));
        if (out_of_irange(&r, v)) return range_err(f, t);
        memcpy(p, &v, sizeof v);
        return TR_OK;
    }
    case CONF_FLOAT: {
        double v;
        if (!fits || parse_f64(t, &v) != 0)
            return tr_err(TR_EINVAL, "%s: expected a number, got '%s'", f->key, show(val, sh));
        if (out_of_range(&r, v)) return range_err(f, t);
        memcpy(p, &v, sizeof v);
        return TR_OK;
    }
    case CONF_BOOL: {
        int v;
        if (!fits || parse_bool(t, &v) != 0)
            return tr_err(TR_EINVAL,
                          "%s: expected true or false (also yes/no, on/off, 1/0), got '%s'",
                          f->key, show(val, sh));
        memcpy(p, &v, sizeof v);
        return TR_OK;
    }
    case CONF_ENUM: {
        size_t len = 0;
        const char *c = fits ? enum_find(f->choices, t, &len) : NULL;
        if (!c)
            return tr_err(TR_EINVAL, "%s: expected one of %s, got '%s'", f->key,
                          f->choices ? f->choices : "", show(val, sh));
        char *dup = strndup(c, len);
        if (!dup) return tr_err(TR_ENOMEM, "%s: out of memory", f->key);
        char *old;
        memcpy(&old, p, sizeof old);
        free(old);
        memcpy(p, &dup, sizeof dup);
        return TR_OK;
    }
    default: return tr_err(TR_EINVAL, "%s: bad field type %d", f->key, (int)f->type);
    }
}

const ConfField *conf_field(const ConfSchema *s, const char *key) {
    if (!s || !key) return NULL;
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->f[i].key, key) == 0) return &s->f[i];
    return NULL;
}

/* True when k[0..len) names a section: some key continues it with '.'. */
static int is_section(const ConfSchema *s, const char *k, size_t len) {
    for (int i = 0; i < s->n; i++)
        if (strncmp(s->f[i].key, k, len) == 0 && s->f[i].key[len] == '.') return 1;
    return 0;
}

/* ------------------------------------------------------------ suggestions */

/* Case-insensitive edit distance; long inputs are "far" rather than slow. */
static int lev(const char *a, size_t na, const char *b, size_t nb) {
    enum { MAXL = 160 };
    if (na > MAXL || nb > MAXL) return INT_MAX / 2;
    int row[MAXL + 1];
    for (size_t j = 0; j <= nb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j];
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int v = diag + cost;
            if (up + 1 < v) v = up + 1;
            if (row[j - 1] + 1 < v) v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
        }
    }
    return row[nb];
}

/* Writes a valid key or section close to `key` into out; 0 if none. Order:
 * a one-edit typo, then a key with the same last component (a key put in
 * the wrong section), then any key within max(3, len/3) edits. */
static int suggest(const ConfSchema *s, const char *key, char *out, size_t cap) {
    size_t n = strlen(key);
    int best = INT_MAX;
    const char *bk = NULL;
    size_t bl = 0;
    for (int i = 0; i < s->n; i++) {
        const char *k = s->f[i].key;
        size_t kl = strlen(k);
        for (size_t cut = 1; cut <= kl; cut++) {
            if (cut < kl && k[cut] != '.') continue;
            int d = lev(key, n, k, cut);
            if (d < best) best = d, bk = k, bl = cut;
        }
    }
    const char *last = strrchr(key, '.');
    last = last ? last + 1 : key;
    if (bk && best <= 1 && (size_t)best < n) goto found;
    if (*last) {
        for (int i = 0; i < s->n; i++) {
            const char *k = s->f[i].key, *kl = strrchr(k, '.');
            kl = kl ? kl + 1 : k;
            if (strcasecmp(kl, last) == 0 && strcmp(k, key) != 0) {
                bk = k, bl = strlen(k);
                goto found;
            }
        }
    }
    int thr = n / 3 > 3 ? (int)(n / 3) : 3;
    if (bk && best <= thr && (size_t)best < n) goto found;
    return 0;
found:
    snprintf(out, cap, "%.*s", (int)bl, bk);
    return 1;
}

/* Lists the children of section prefix[0..plen) ("" = top level) as
 * "lr, wd, adam.*". */
static void list_children(const ConfSchema *s, const char *prefix, size_t plen, Buf *b) {
    size_t skip = plen ? plen + 1 : 0;
    int count = 0;
    for (int i = 0; i < s->n; i++) {
        const char *k = s->f[i].key;
        if (plen && (strncmp(k, prefix, plen) != 0 || k[plen] != '.')) continue;
        const char *rest = k + skip, *dot = strchr(rest, '.');
        size_t cl = dot ? (size_t)(dot - rest) : strlen(rest);
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) {
            const char *kj = s->f[j].key;
            if (plen && (strncmp(kj, prefix, plen) != 0 || kj[plen] != '.')) continue;
            const char *rj = kj + skip;
            seen = strncmp(rj, rest, cl) == 0 && (rj[cl] == '.' || rj[cl] == 0);
        }
        if (seen) continue;
        if (b->n > 600) {
            buf_puts(b, ", ...");
            return;
        }
        if (count++) buf_puts(b, ", ");
        buf_add(b, rest, cl);
        if (dot) buf_puts(b, ".*");
    }
}

/* The error for a key that is not in the table (or names a section). */
static int err_unknown(const ConfSchema *s, const char *key) {
    char sh[SHOW_CAP], sug[256];
    size_t n = strlen(key);
    Buf b = {0};
    int rc;
    if (is_section(s, key, n)) {
        list_children(s, key, n, &b);
        rc = tr_err(TR_EINVAL, "%s: is a section, not a key (its keys: %s)", show(key, sh),
                    b.p ? b.p : "");
    } else if (suggest(s, key, sug, sizeof sug)) {
        rc = tr_err(TR_EINVAL, "%s: unknown key (did you mean '%s'?)", show(key, sh), sug);
    } else {
        size_t plen = 0;
        for (size_t i = n; i > 0; i--)
            if (key[i] == '.' && is_section(s, key, i)) {
                plen = i;
                break;
            }
        list_children(s, key, plen, &b);
        if (plen)
            rc = tr_err(TR_EINVAL, "%s: unknown key (keys under %.*s: %s)", show(key, sh),
                        (int)plen, key, b.p ? b.p : "");
        else
            rc = tr_err(TR_EINVAL, "%s: unknown key (top-level keys of %s: %s)", show(key, sh),
                        schema_name(s), b.p ? b.p : "");
    }
    free(b.p);
    return rc;
}

/* ----------------------------------------------------------- public: set */

static int key_chars_ok(const char *k) {
    if (!*k || *k == '.') return 0;
    for (const char *p = k; *p; p++) {
        if (*p == '.' && (p[1] == '.' || p[1] == 0)) return 0;
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.') return 0;
    }
    return 1;
}

/* Programming errors in a table: bad keys, duplicates, a key that is also a
 * section, enums without choices, malformed ranges. */
static int schema_check(const ConfSchema *s) {
    if (!s || (s->n > 0 && !s->f) || s->n < 0) return tr_err(TR_EINVAL, "conf: bad schema");
    const char *nm = schema_name(s);
    for (int i = 0; i < s->n; i++) {
        const ConfField *f = &s->f[i];
        if (!f->key || !key_chars_ok(f->key))
            return tr_err(TR_EINVAL, "%s: schema: bad key '%s'", nm, f->key ? f->key : "(null)");
        if ((unsigned)f->type > CONF_ENUM)
            return tr_err(TR_EINVAL, "%s: schema: %s: bad type", nm, f->key);
        if (!f->def && f->type != CONF_STR)
            return tr_err(TR_EINVAL, "%s: schema: %s: no default", nm, f->key);
        if (f->type == CONF_ENUM) {
            const char *c = f->choices;
            if (!c || !*c || *c == '|' || c[strlen(c) - 1] == '|' || strstr(c, "||"))
                return tr_err(TR_EINVAL, "%s: schema: %s: bad choices '%s'", nm, f->key,
                              c ? c : "(null)");
        }
        Range r;
        if (range_parse(f, &r) != 0)
            return tr_err(TR_EINVAL, "%s: schema: %s: bad range '%s'", nm, f->key, f->choices);
        size_t li = strlen(f->key);
        for (int j = 0; j < i; j++) {
            const char *kj = s->f[j].key;
            size_t lj = strlen(kj);
            if (strcmp(kj, f->key) == 0)
                return tr_err(TR_EINVAL, "%s: schema: duplicate key %s", nm, f->key);
            if ((li < lj && strncmp(kj, f->key, li) == 0 && kj[li] == '.') ||
                (lj < li && strncmp(f->key, kj, lj) == 0 && f->key[lj] == '.'))
                return tr_err(TR_EINVAL, "%s: schema: %s and %s: a key cannot also be a section",
                              nm, kj, f->key);
        }
    }
    return TR_OK;
}

int conf_defaults(const ConfSchema *s, void *obj) {
    int rc = schema_check(s);
    if (rc) return rc;
    for (int i = 0; i < s->n; i++) {
        const ConfField *f = &s->f[i];
        rc = set_field(f, obj, f->def ? f->def : "", 0);
        if (rc) return tr_err_ctx(rc, "%s: schema: bad default", schema_name(s));
    }
    return TR_OK;
}

void conf_free(const ConfSchema *s, void *obj) {
    if (!s || !obj) return;
    for (int i = 0; i < s->n; i++) {
        const ConfField *f = &s->f[i];
        if (f->type != CONF_STR && f->type != CONF_ENUM) continue;
        char *p = (char *)obj + f->off, *old, *nul = NULL;
        memcpy(&old, p, sizeof old);
        free(old);
        memcpy(p, &nul, sizeof nul);
    }
}

int conf_set(const ConfSchema *s, void *obj, const char *key, const char *val) {
    if (!s || !obj || !key) return tr_err(TR_EINVAL, "conf_set: NULL argument");
    const ConfField *f = conf_field(s, key);
    if (!f) return err_unknown(s, key);
    return set_field(f, obj, val ? val : "", val == NULL);
}

int conf_override(const ConfSchema *s, void *obj, const char *kv) {
    char sh[SHOW_CAP];
    if (!kv) return tr_err(TR_EINVAL, "conf_override: NULL argument");
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return tr_err(TR_EINVAL, "override '%s': expected key=value", show(kv, sh));
    char *key = strndup(kv, (size_t)(eq - kv));
    if (!key) return tr_err(TR_ENOMEM, "out of memory");
    int rc = conf_set(s, obj, key, eq + 1);
    free(key);
    return rc;
}

/* ------------------------------------------------------------ YAML input */

enum { MAX_DEPTH = 64 };

typedef struct {
    const ConfSchema *s;
    void *obj;
    const char *name;
    char *prefix[MAX_DEPTH]; /* dotted prefix of each open mapping, "" at the root */
    int depth;
    int want_value;          /* the innermost mapping has read a key */
    const char *key;         /* that key, dotted in full (owned by seen[]) */
    int key_line;
    int in_seq, seq_items;   /* a list for a CONF_STR key */
    Buf seq;
    char **seen;             /* every key taken from this file, for duplicates */
    int *seen_line;
    int nseen, cap_seen;
} Loader;

static int is_null_scalar(const yaml_event_t *ev) {
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *v = (const char *)ev->data.scalar.value;
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
           !strcmp(v, "NULL");
}

static int yaml_fail(yaml_parser_t *p, const char *text, size_t len, const char *name) {
    if (p->error == YAML_MEMORY_ERROR)
        return tr_err(TR_ENOMEM, "%s: out of memory parsing YAML", name);
    int line = 1;
    if (p->error == YAML_READER_ERROR) {
        size_t end = p->problem_offset < len ? p->problem_offset : len;
        for (size_t i = 0; i < end; i++) line += text[i] == '\n';
    } else {
        line = (int)p->problem_mark.line + 1;
    }
    const char *prob = p->problem ? p->problem : "syntax error";
    if (p->context)
        return tr_err(TR_EFORMAT, "%s:%d: invalid YAML: %s (%s at line %d)", name, line, prob,
                      p->context, (int)p->context_mark.line + 1);
    return tr_err(TR_EFORMAT, "%s:%d: invalid YAML: %s", name, line, prob);
}

static int on_key(Loader *L, const char *v, int line) {
    char sh[SHOW_CAP];
    const char *pre = L->prefix[L->depth - 1];
    size_t pl = strlen(pre), vl = strlen(v);
    char *full = malloc(pl + vl + 2);
    if (!full) return tr_err(TR_ENOMEM, "%s: out of memory", L->name);
    if (pl) {
        memcpy(full, pre, pl);
        full[pl] = '.';
        memcpy(full + pl + 1, v, vl + 1);
    } else {
        memcpy(full, v, vl + 1);
    }
    for (int i = 0; i < L->nseen; i++)
        if (strcmp(L->seen[i], full) == 0) {
            int rc = tr_err(TR_EINVAL, "%s:%d: %s: duplicate key (first at line %d)", L->name,
                            line, show(full, sh), L->seen_line[i]);
            free(full);
            return rc;
        }
    if (!conf_field(L->s, full) && !is_section(L->s, full, strlen(full))) {
        int rc = err_unknown(L->s, full);
        free(full);
        return tr_err_ctx(rc, "%s:%d", L->name, line);
    }
    if (L->nseen == L->cap_seen) {
        int cap = L->cap_seen ? 2 * L->cap_seen : 32;
        char **ns = realloc(L->seen, (size_t)cap * sizeof *ns);
        if (ns) L->seen = ns;
        int *nl = ns ? realloc(L->seen_line, (size_t)cap * sizeof *nl) : NULL;
        if (nl) L->seen_line = nl;
        if (!ns || !nl) {
            free(full);
            return tr_err(TR_ENOMEM, "%s: out of memory", L->name);
        }
        L->cap_seen = cap;
    }
    L->seen[L->nseen] = full;
    L->seen_line[L->nseen++] = line;
    L->key = full;
    L->key_line = line;
    L->want_value = 1;
    return TR_OK;
}

/* A value that is not a scalar (kind: "a mapping", "a list") where the key
 * wants one. */
static int err_shape(Loader *L, const ConfField *f, const char *kind, int line) {
    char ex[256];
    if (f)
        return tr_err(TR_EINVAL, "%s:%d: %s: expected %s, got %s", L->name, line, L->key,
                      expect_text(f, ex, sizeof ex), kind);
    return tr_err(TR_EINVAL, "%s:%d: %s: is a section, expected a mapping of its keys, got %s",
                  L->name, line, L->key, kind);
}

static int on_event(Loader *L, const yaml_event_t *ev, int *ndocs) {
    int line = (int)ev->start_mark.line + 1;
    char sh[SHOW_CAP];
    switch (ev->type) {
    case YAML_STREAM_START_EVENT:
    case YAML_STREAM_END_EVENT:
    case YAML_DOCUMENT_END_EVENT:
    case YAML_NO_EVENT: return TR_OK;
    case YAML_DOCUMENT_START_EVENT:
        if (++*ndocs > 1)
            return tr_err(TR_EFORMAT, "%s:%d: only one YAML document is allowed", L->name, line);
        return TR_OK;
    case YAML_ALIAS_EVENT:
        return tr_err(TR_EFORMAT, "%s:%d: aliases (*%s) are not supported", L->name, line,
                      show((const char *)ev->data.alias.anchor, sh));
    case YAML_SCALAR_EVENT: {
        const char *v = (const char *)ev->data.scalar.value;
        int is_null = is_null_scalar(ev);
        if (memchr(v, 0, ev->data.scalar.length))
            return tr_err(TR_EINVAL, "%s:%d: NUL character in '%s'", L->name, line, show(v, sh));
        if (L->depth == 0) {
            if (is_null) return TR_OK; /* "---" alone: an empty document */
            return tr_err(TR_EFORMAT, "%s:%d: the top level must be a mapping of keys, got '%s'",
                          L->name, line, show(v, sh));
        }
        if (L->in_seq) {
            if (L->seq_items++) buf_putc(&L->seq, ',');
            if (!is_null) buf_puts(&L->seq, v);
            return L->seq.oom ? tr_err(TR_ENOMEM, "%s: out of memory", L->name) : TR_OK;
        }
        if (!L->want_value) return on_key(L, v, line);
        L->want_value = 0;
        const ConfField *f = conf_field(L->s, L->key);
        if (!f) {
            if (is_null) return TR_OK; /* a section whose keys are all commented out */
            return tr_err(TR_EINVAL,
                          "%s:%d: %s: is a section, expected a mapping of its keys, got '%s'",
                          L->name, line, L->key, show(v, sh));
        }
        int rc = set_field(f, L->obj, v, is_null);
        return rc ? tr_err_ctx(rc, "%s:%d", L->name, line) : TR_OK;
    }
    case YAML_SEQUENCE_START_EVENT: {
        if (L->depth == 0)
            return tr_err(TR_EFORMAT, "%s:%d: the top level must be a mapping of keys, got a list",
                          L->name, line);
        if (L->in_seq)
            return tr_err(TR_EINVAL, "%s:%d: %s: list items must be scalars", L->name, line,
                          L->key);
        if (!L->want_value)
            return tr_err(TR_EFORMAT, "%s:%d: keys must be scalars", L->name, line);
        const ConfField *f = conf_field(L->s, L->key);
        if (!f || f->type != CONF_STR) return err_shape(L, f, "a list", line);
        L->in_seq = 1;
        L->seq_items = 0;
        L->seq.n = 0;
        if (L->seq.p) L->seq.p[0] = 0;
        return TR_OK;
    }
    case YAML_SEQUENCE_END_EVENT: {
        /* Only a list for a CONF_STR key gets this far. */
        L->in_seq = 0;
        L->want_value = 0;
        int rc = set_field(conf_field(L->s, L->key), L->obj, L->seq.p ? L->seq.p : "", 0);
        return rc ? tr_err_ctx(rc, "%s:%d", L->name, L->key_line) : TR_OK;
    }
    case YAML_MAPPING_START_EVENT: {
        const char *pre = "";
        if (L->depth > 0) {
            if (L->in_seq)
                return tr_err(TR_EINVAL, "%s:%d: %s: list items must be scalars", L->name, line,
                              L->key);
            if (!L->want_value)
                return tr_err(TR_EFORMAT, "%s:%d: keys must be scalars", L->name, line);
            const ConfField *f = conf_field(L->s, L->key);
            if (f) return err_shape(L, f, "a mapping", line);
            pre = L->key;
        }
        if (L->depth == MAX_DEPTH)
            return tr_err(TR_EFORMAT, "%s:%d: nested too deep", L->name, line);
        L->prefix[L->depth] = strdup(pre);
        if (!L->prefix[L->depth]) return tr_err(TR_ENOMEM, "%s: out of memory", L->name);
        L->depth++;
        L->want_value = 0;
        return TR_OK;
    }
    case YAML_MAPPING_END_EVENT:
        free(L->prefix[--L->depth]);
        L->prefix[L->depth] = NULL;
        L->want_value = 0;
        return TR_OK;
    }
    return TR_OK;
}

int conf_load_yaml_text(const ConfSchema *s, void *obj, const char *text, size_t len,
                        const char *name) {
    if (!s || !obj) return tr_err(TR_EINVAL, "conf_load_yaml_text: NULL argument");
    if (!name) name = "<yaml>";
    if (!text) text = "", len = 0;
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return tr_err(TR_ENOMEM, "%s: out of memory", name);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    Loader L = {.s = s, .obj = obj, .name = name};
    int rc = TR_OK, ndocs = 0, done = 0;
    while (rc == TR_OK && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = yaml_fail(&p, text, len, name);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(&L, &ev, &ndocs);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    for (int i = 0; i < L.depth; i++) free(L.prefix[i]);
    for (int i = 0; i < L.nseen; i++) free(L.seen[i]);
    free(L.seen);
    free(L.seen_line);
    free(L.seq.p);
    return rc;
}

int conf_load_yaml(const ConfSchema *s, void *obj, const char *path) {
    size_t len = 0;
    char *text = tr_read_file(path, &len);
    if (!text) return TR_EIO;
    int rc = conf_load_yaml_text(s, obj, text, len, path);
    free(text);
    return rc;
}

/* ----------------------------------------------------------- YAML output */

static int is_plain_word(const char *s) {
    static const char *w[] = {"~", "null", "true", "false", "yes", "no", "on", "off", "y", "n"};
    for (size_t i = 0; i < sizeof w / sizeof *w; i++)
        if (strcasecmp(s, w[i]) == 0) return 1;
    return 0;
}

/* Characters that may not appear raw in a YAML stream or that a reader
 * would fold as line breaks: they go through an escape. */
static int cp_needs_escape(uint32_t cp) {
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0xFEFF || cp == 0xFFFE || cp == 0xFFFF;
}

/* Whether a string needs quotes so that YAML readers (ours, and YAML 1.1
 * ones such as PyYAML) read it back as this same string. */
static int needs_quote(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || s[0] == ' ' || s[n - 1] == ' ' || s[n - 1] == ':') return 1;
    if (strchr("-?:,[]{}#&*!|>'\"%@`+=<", s[0])) return 1;
    if (isdigit((unsigned char)s[0])) return 1;
    if (s[0] == '.' && (isdigit((unsigned char)s[1]) || !strcasecmp(s, ".inf") ||
                        !strcasecmp(s, ".nan")))
        return 1;
    if (is_plain_word(s)) return 1;
    if (strstr(s, ": ") || strstr(s, " #")) return 1;
    const unsigned char *p = (const unsigned char *)s;
    uint32_t cp;
    while (*p) {
        int k = utf8_next(p, &cp);
        if (!k || cp_needs_escape(cp)) return 1;
        p += k;
    }
    return 0;
}

static void put_string(Buf *b, const char *s) {
    if (!needs_quote(s)) {
        buf_puts(b, s);
        return;
    }
    buf_putc(b, '"');
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp;
        int k = utf8_next(p, &cp);
        if (!k) { /* not UTF-8 (set behind conf_set's back): cannot round trip */
            buf_printf(b, "\\x%02X", *p);
            p++;
            continue;
        }
        if (cp == '"')
            buf_puts(b, "\\\"");
        else if (cp == '\\')
            buf_puts(b, "\\\\");
        else if (cp == '\n')
            buf_puts(b, "\\n");
        else if (cp == '\t')
            buf_puts(b, "\\t");
        else if (cp == '\r')
            buf_puts(b, "\\r");
        else if (cp_needs_escape(cp))
            buf_printf(b, cp < 0x100 ? "\\x%02X" : "\\u%04X", (unsigned)cp);
        else
            buf_add(b, (const char *)p, (size_t)k);
        p += k;
    }
    buf_putc(b, '"');
}

/* Shortest of %.15g / %.16g / %.17g that reads back to v, with ".0" added
 * where it has no '.', so YAML 1.1 readers also see a float ("1.0e-05"). */
static void fmt_double(double v, char *out, size_t cap) {
    if (isnan(v)) {
        snprintf(out, cap, ".nan");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v > 0 ? ".inf" : "-.inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v) break;
    }
    if (!strchr(out, '.')) {
        char *e = strchr(out, 'e');
        size_t at = e ? (size_t)(e - out) : strlen(out), n = strlen(out);
        if (n + 3 <= cap) {
            memmove(out + at + 2, out + at, n - at + 1);
            memcpy(out + at, ".0", 2);
        }
    }
}

static void put_value(Buf *b, const ConfField *f, const void *obj) {
    const char *p = (const char *)obj + f->off;
    switch (f->type) {
    case CONF_INT: {
        int64_t v;
        memcpy(&v, p, sizeof v);
        buf_printf(b, "%" PRId64, v);
        break;
    }
    case CONF_FLOAT: {
        double v;
        char t[64];
        memcpy(&v, p, sizeof v);
        fmt_double(v, t, sizeof t);
        buf_puts(b, t);
        break;
    }
    case CONF_BOOL: {
        int v;
        memcpy(&v, p, sizeof v);
        buf_puts(b, v ? "true" : "false");
        break;
    }
    case CONF_STR:
    case CONF_ENUM: {
        const char *v;
        memcpy(&v, p, sizeof v);
        put_string(b, v ? v : "");
        break;
    }
    }
}

static void put_help(Buf *b, const char *help) {
    for (const char *h = help; *h; h++) buf_putc(b, (*h == '\n' || *h == '\r') ? ' ' : *h);
}

/* Emits the keys under prefix[0..plen) ("" = all), leaves and sections in
 * the order of their first key in the table; comments aligned per mapping. */
static void emit_group(const ConfSchema *s, const void *obj, Buf *out, const char *prefix,
                       size_t plen, int indent) {
    size_t skip = plen ? plen + 1 : 0, width = 0;
    Buf val = {0};
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < s->n; i++) {
            const char *k = s->f[i].key;
            if (plen && (strncmp(k, prefix, plen) != 0 || k[plen] != '.')) continue;
            const char *rest = k + skip, *dot = strchr(rest, '.');
            if (!dot) {
                val.n = 0;
                if (val.p) val.p[0] = 0;
                put_value(&val, &s->f[i], obj);
                size_t w = (size_t)indent + strlen(rest) + 2 + val.n;
                if (pass == 0) {
                    if (w > width && w <= 48) width = w;
                    continue;
                }
                buf_printf(out, "%*s%s: %s", indent, "", rest, val.p ? val.p : "");
                const char *help = s->f[i].help;
                if (help && *help) {
                    for (; w < width; w++) buf_putc(out, ' ');
                    buf_puts(out, "  # ");
                    put_help(out, help);
                }
                buf_putc(out, '\n');
                continue;
            }
            if (pass == 0) continue;
            size_t cl = (size_t)(dot - rest);
            int seen = 0;
            for (int j = 0; j < i && !seen; j++) {
                const char *kj = s->f[j].key;
                if (plen && (strncmp(kj, prefix, plen) != 0 || kj[plen] != '.')) continue;
                seen = strncmp(kj + skip, rest, cl) == 0 && kj[skip + cl] == '.';
            }
            if (seen) continue;
            buf_printf(out, "%*s%.*s:\n", indent, "", (int)cl, rest);
            emit_group(s, obj, out, k, skip + cl, indent + 2);
        }
    }
    free(val.p);
}

int conf_write_yaml(const ConfSchema *s, const void *obj, FILE *f) {
    if (!s || !obj || !f) return tr_err(TR_EINVAL, "conf_write_yaml: NULL argument");
    Buf b = {0};
    buf_printf(&b, "# %s\n", schema_name(s));
    emit_group(s, obj, &b, "", 0, 0);
    if (b.oom) {
        free(b.p);
        return tr_err(TR_ENOMEM, "%s: out of memory writing YAML", schema_name(s));
    }
    size_t w = fwrite(b.p, 1, b.n, f);
    int bad = w != b.n || fflush(f) != 0 || ferror(f);
    free(b.p);
    return bad ? tr_err(TR_EIO, "%s: write error", schema_name(s)) : TR_OK;
}

int conf_save_yaml(const ConfSchema *s, const void *obj, const char *path) {
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    if (!f) return tr_err(TR_ENOMEM, "%s: out of memory", path);
    int rc = conf_write_yaml(s, obj, f);
    if (fclose(f) != 0 && rc == TR_OK) rc = tr_err(TR_EIO, "%s: cannot write", path);
    if (rc == TR_OK) rc = tr_write_file_atomic(path, mem, len);
    free(mem);
    return rc;
}

/* ------------------------------------------------------------------ help */

void conf_print_help(const ConfSchema *s, FILE *f) {
    if (!s || !f) return;
    int w = 0;
    for (int i = 0; i < s->n; i++) {
        int l = (int)strlen(s->f[i].key);
        if (l > w) w = l;
    }
    for (int i = 0; i < s->n; i++) {
        const ConfField *c = &s->f[i];
        char type[320];
        if (c->type == CONF_ENUM)
            snprintf(type, sizeof type, "one of %s", c->choices ? c->choices : "");
        else if (c->choices && (c->type == CONF_INT || c->type == CONF_FLOAT))
            snprintf(type, sizeof type, "%s in %s", type_name(c->type), c->choices);
        else
            snprintf(type, sizeof type, "%s", type_name(c->type));
        const char *def = c->def ? c->def : "";
        int quote = c->type == CONF_STR && !*def;
        fprintf(f, "  %-*s  (%s, default %s): %s\n", w, c->key, type, quote ? "\"\"" : def,
                c->help ? c->help : "");
    }
}
