/* Reward functions and their weighted sum (ALGORITHMS 4): the registry, the
 * spec parser, the rule-based built-ins (format, accuracy, equation, iou,
 * consistency, taco, length, contains) and exec, which drives an external
 * verifier process over JSON lines. Answer checks themselves live in verify.c and the
 * task scorers; nothing here evaluates code or knows about tokens. */
#include "thinkrl/reward.h"

#include <cJSON.h>
#include <errno.h>
#include <float.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "thinkrl/task.h"
#include "thinkrl/verify.h"
#include "reward/split_cmd.h"

extern char **environ;

/* ------------------------------------------------------------- helpers -- */

static int is_ws(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_alnum(unsigned char c) { return is_alpha(c) || is_digit(c) || c == '_'; }
static unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
static unsigned char upper(unsigned char c) { return (c >= 'a' && c <= 'z') ? c - 32 : c; }

static void trim(const char *s, size_t *b, size_t *e) {
    while (*b < *e && is_ws((unsigned char)s[*b])) (*b)++;
    while (*e > *b && is_ws((unsigned char)s[*e - 1])) (*e)--;
}

static char *dup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static const char *rec_id(const RewardCtx *c) {
    return (c->rec && c->rec->id) ? c->rec->id : "?";
}

/* Edit distance with adjacent transpositions (optimal string alignment),
 * for "did you mean" hints. Names are short; longer ones are cut at 63. */
static int edit_distance(const char *a, const char *b) {
    int n = (int)strlen(a), m = (int)strlen(b);
    if (n > 63) n = 63;
    if (m > 63) m = 63;
    int d[64][64];
    for (int i = 0; i <= n; i++) d[i][0] = i;
    for (int j = 0; j <= m; j++) d[0][j] = j;
    for (int i = 1; i <= n; i++) {
        for (int j = 1; j <= m; j++) {
            int cost = lower((unsigned char)a[i - 1]) != lower((unsigned char)b[j - 1]);
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[n][m];
}

/* The closest of names[0..n) to s when it is close enough to be a likely
 * typo (distance <= 1 + len/3, or one is a prefix of the other), else NULL. */
static const char *closest(const char *s, const char *const *names, int n) {
    const char *best = NULL;
    int bd = 1 << 30;
    size_t sl = strlen(s);
    for (int i = 0; i < n; i++) {
        int d = edit_distance(s, names[i]);
        size_t nl = strlen(names[i]);
        if (sl >= 2 && (strncmp(s, names[i], sl) == 0 || strncmp(s, names[i], nl) == 0) && d > 1)
            d = 1; /* a prefix ("acc", "lengths") is as good as a typo */
        if (d < bd) {
            bd = d;
            best = names[i];
        }
    }
    if (best && bd <= 1 + (int)(sl / 3)) return best;
    return NULL;
}

/* Appends ", a, b, c" style lists to buf. */
static void join_names(char *buf, size_t cap, const char *const *names, int n) {
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && o + 1 < cap; i++) {
        int w = snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", names[i]);
        if (w < 0) break;
        o += (size_t)w;
    }
}

/* Copies text as valid UTF-8 (invalid sequences and NUL bytes become
 * U+FFFD): model output can end inside a multi-byte character, and a
 * verifier reading JSON with a strict decoder would die on it. */
static char *utf8_clean(const char *s, size_t n) {
    char *o = malloc(3 * n + 1);
    if (!o) return NULL;
    size_t j = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        size_t len = 0;
        uint32_t cp = 0, min = 0;
        if (c >= 0x01 && c < 0x80) {
            o[j++] = (char)c;
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4, cp = c & 0x07, min = 0x10000;
        }
        int ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++) {
            if ((u[i + k] & 0xC0) != 0x80) ok = 0;
            else cp = (cp << 6) | (u[i + k] & 0x3F);
        }
        if (ok && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = 0;
        if (ok) {
            memcpy(o + j, s + i, len);
            j += len;
            i += len;
        } else {
            memcpy(o + j, "\xEF\xBF\xBD", 3);
            j += 3;
            i++;
        }
    }
    o[j] = '\0';
    return o;
}

/* ------------------------------------------------------------- options -- */

const char *reward_opt(const RewardTerm *t, const char *key) {
    for (int i = 0; i < t->n_opts; i++)
        if (strcmp(t->key[i], key) == 0) return t->val[i];
    return NULL;
}

int reward_opt_num(const RewardTerm *t, const char *key, double lo, double hi, double *out) {
    const char *v = reward_opt(t, key);
    if (!v) return tr_err(TR_EINVAL, "reward '%s': no option '%s'", t->def->name, key);
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    while (is_ws((unsigned char)*end)) end++;
    if (end == v || *end || !isfinite(x) || x < lo || x > hi)
        return tr_err(TR_EINVAL, "reward '%s': option '%s': expected a number in [%g, %g], got '%s'",
                      t->def->name, key, lo, hi, v);
    *out = x;
    return TR_OK;
}

int reward_opt_int(const RewardTerm *t, const char *key, long lo, long hi, long *out) {
    const char *v = reward_opt(t, key);
    if (!v) return tr_err(TR_EINVAL, "reward '%s': no option '%s'", t->def->name, key);
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    while (is_ws((unsigned char)*end)) end++;
    if (end == v || *end || errno || x < lo || x > hi)
        return tr_err(TR_EINVAL,
                      "reward '%s': option '%s': expected an integer in [%ld, %ld], got '%s'",
                      t->def->name, key, lo, hi, v);
    *out = x;
    return TR_OK;
}

static void term_clear(RewardTerm *t) {
    if (t->def && t->def->free && t->state) t->def->free(t);
    for (int i = 0; i < t->n_opts; i++) free(t->val[i]);
    memset(t, 0, sizeof *t);
}

/* Fills t from def, weight and kv; runs init. On error t is cleared. */
static int term_build(RewardTerm *t, const RewardDef *def, double weight, const char *const *kv,
                      int n) {
    memset(t, 0, sizeof *t);
    TR_ASSERT(def->n_params <= REWARD_MAX_OPTS);
    t->def = def;
    t->weight = weight;
    for (int i = 0; i < def->n_params; i++) {
        t->key[i] = def->params[i].key;
        t->val[i] = strdup(def->params[i].def ? def->params[i].def : "");
        t->n_opts = i + 1;
        if (!t->val[i]) {
            term_clear(t);
            return tr_err(TR_ENOMEM, "out of memory");
        }
    }
    for (int k = 0; k < n; k++) {
        const char *eq = kv[k] ? strchr(kv[k], '=') : NULL;
        if (!eq) {
            term_clear(t);
            return tr_err(TR_EINVAL, "reward '%s': option '%s' is not key=value", def->name,
                          kv[k] ? kv[k] : "(null)");
        }
        size_t kl = (size_t)(eq - kv[k]);
        int idx = -1;
        for (int i = 0; i < t->n_opts; i++)
            if (strlen(t->key[i]) == kl && memcmp(t->key[i], kv[k], kl) == 0) idx = i;
        if (idx < 0) {
            char key[64], list[256];
            snprintf(key, sizeof key, "%.*s", (int)(kl < 63 ? kl : 63), kv[k]);
            const char *names[REWARD_MAX_OPTS];
            for (int i = 0; i < t->n_opts; i++) names[i] = t->key[i];
            join_names(list, sizeof list, names, t->n_opts);
            const char *near = closest(key, names, t->n_opts);
            int rc = tr_err(TR_EINVAL, "reward '%s': unknown option '%s' (%s%s%s%s%s)", def->name,
                            key, near ? "did you mean '" : "", near ? near : "",
                            near ? "'? " : "", t->n_opts ? "options: " : "it takes no options",
                            list);
            term_clear(t);
            return rc;
        }
        char *v = strdup(eq + 1);
        if (!v) {
            term_clear(t);
            return tr_err(TR_ENOMEM, "out of memory");
        }
        free(t->val[idx]);
        t->val[idx] = v;
    }
    if (def->init) {
        int rc = def->init(t);
        if (rc != TR_OK) {
            term_clear(t);
            return rc;
        }
    }
    return TR_OK;
}

/* ------------------------------------------------------------ built-ins -- */

enum { ACC_ACCURACY, ACC_IOU, ACC_EQUATION };

/* One state for every built-in: each reads the options its table has. */
typedef struct {
    VerifyTags tags;
    const TaskDef *task;   /* accuracy/taco fallback task, NULL: none */
    int hard;              /* iou: 1[IoU > threshold] instead of IoU */
    double threshold;
    double box_iou;        /* consistency: boxes agree at IoU >= this; 0: equal numbers */
    double w_tac;
    int acc;               /* taco: which check says "correct" */
    long l_max, l_cache;   /* length; 0: from the context / 20% of L_max */
} Builtin;

static int tag_ok(const char *s) {
    if (!s[0] || strlen(s) > 32) return 0;
    for (const char *p = s; *p; p++)
        if (*p == '<' || *p == '>' || *p == '/' || is_ws((unsigned char)*p)) return 0;
    return 1;
}

static int builtin_init(RewardTerm *t) {
    Builtin *b = calloc(1, sizeof *b);
    if (!b) return tr_err(TR_ENOMEM, "out of memory");
    t->state = b;
    const char *name = t->def->name, *v;
    b->tags.think = "think";
    b->tags.answer = "answer";
    b->threshold = 0.5;
    b->w_tac = 1.0;
    if ((v = reward_opt(t, "think"))) {
        if (!tag_ok(v))
            return tr_err(TR_EINVAL, "reward '%s': option 'think': bad tag name '%s'", name, v);
        b->tags.think = v;
    }
    if ((v = reward_opt(t, "answer"))) {
        if (!tag_ok(v))
            return tr_err(TR_EINVAL, "reward '%s': option 'answer': bad tag name '%s'", name, v);
        b->tags.answer = v;
    }
    if (strcmp(b->tags.think, b->tags.answer) == 0)
        return tr_err(TR_EINVAL, "reward '%s': think and answer tags are both '%s'", name,
                      b->tags.think);
    if ((v = reward_opt(t, "task")) && v[0]) {
        b->task = task_find(v);
        if (!b->task) {
            char list[256];
            const char *names[32];
            int n = task_count() < 32 ? task_count() : 32;
            for (int i = 0; i < n; i++) names[i] = task_at(i)->name;
            join_names(list, sizeof list, names, n);
            return tr_err(TR_EINVAL, "reward '%s': option 'task': unknown task '%s' (tasks: %s)",
                          name, v, list);
        }
    }
    if ((v = reward_opt(t, "mode"))) {
        if (strcmp(v, "soft") == 0) b->hard = 0;
        else if (strcmp(v, "hard") == 0) b->hard = 1;
        else
            return tr_err(TR_EINVAL, "reward '%s': option 'mode': expected soft or hard, got '%s'",
                          name, v);
    }
    int rc;
    if (reward_opt(t, "threshold") && (rc = reward_opt_num(t, "threshold", 0, 1, &b->threshold)))
        return rc;
    if (reward_opt(t, "box_iou") && (rc = reward_opt_num(t, "box_iou", 0, 1, &b->box_iou)))
        return rc;
    if (reward_opt(t, "w_tac") && (rc = reward_opt_num(t, "w_tac", -1e6, 1e6, &b->w_tac)))
        return rc;
    if ((v = reward_opt(t, "acc"))) {
        if (strcmp(v, "accuracy") == 0) b->acc = ACC_ACCURACY;
        else if (strcmp(v, "iou") == 0) b->acc = ACC_IOU;
        else if (strcmp(v, "equation") == 0) b->acc = ACC_EQUATION;
        else
            return tr_err(TR_EINVAL,
                          "reward '%s': option 'acc': expected accuracy, iou or equation, got '%s'",
                          name, v);
    }
    if (reward_opt(t, "max") && (rc = reward_opt_int(t, "max", 0, 1L << 30, &b->l_max))) return rc;
    if (reward_opt(t, "cache") && (rc = reward_opt_int(t, "cache", 0, 1L << 30, &b->l_cache)))
        return rc;
    if (b->l_max > 0 && b->l_cache > b->l_max)
        return tr_err(TR_EINVAL, "reward '%s': cache %ld exceeds max %ld", name, b->l_cache,
                      b->l_max);
    return TR_OK;
}

static void builtin_free(RewardTerm *t) {
    free(t->state);
    t->state = NULL;
}

static int need_response(const RewardCtx *c) {
    if (!c->response && c->response_len > 0)
        return tr_err(TR_EINVAL, "response is NULL with length %zu", c->response_len);
    return TR_OK;
}

static int need_record(const RewardCtx *c) {
    if (!c->rec) return tr_err(TR_EINVAL, "no record in the context");
    return need_response(c);
}

/* ---- format ---- */

static int format_score(RewardTerm *t, const RewardCtx *c, double *out, float *tok) {
    const Builtin *b = t->state;
    int rc = need_response(c);
    if (rc) return rc;
    VerifyParts p;
    verify_parse(c->response, c->response_len, &b->tags, &p);
    *out = p.format_ok ? 1.0 : 0.0;
    return TR_OK;
}

/* ---- accuracy ---- */

/* Multiple choice by content: ref is one letter and meta "choices" lists
 * the options' texts; the answer may be the text of the right option. */
static int choice_text_match(const Record *rec, const char *ans, size_t n, const char *ref) {
    size_t b = 0, e = strlen(ref);
    trim(ref, &b, &e);
    if (e - b != 1 || !is_alpha((unsigned char)ref[b]) || !rec->meta) return 0;
    int idx = upper((unsigned char)ref[b]) - 'A';
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(rec->meta, "choices");
    if (!cJSON_IsArray(ch)) return 0;
    const cJSON *it = cJSON_GetArrayItem(ch, idx);
    if (!cJSON_IsString(it)) return 0;
    return verify_answer(ans, n, it->valuestring);
}

/* 1 / 0 into *ok: the answer part solves the record. */
static int acc_check(const Builtin *b, const RewardCtx *c, const VerifyParts *p, int *ok) {
    *ok = 0;
    const Record *rec = c->rec;
    const char *tname = record_meta_str(rec, "task");
    const TaskDef *task = tname ? task_find(tname) : b->task;
    if (tname && !task)
        return tr_err(TR_EINVAL, "record '%s': unknown task '%s' in meta.task", rec_id(c), tname);
    if (!task && !rec->answer)
        return tr_err(TR_EINVAL, "record '%s' has no answer and names no task", rec_id(c));
    if (!p->answer) return TR_OK;
    if (task) {
        *ok = task->score(rec, p->answer, p->answer_len, NULL, 0) == 1;
        return TR_OK;
    }
    *ok = verify_answer(p->answer, p->answer_len, rec->answer) == 1 ||
          choice_text_match(rec, p->answer, p->answer_len, rec->answer) == 1;
    return TR_OK;
}

/* The record check and the think/answer split every record-based builtin starts with. */
static int record_parts(const Builtin *b, const RewardCtx *c, VerifyParts *p) {
    int rc = need_record(c);
    if (rc) return rc;
    verify_parse(c->response, c->response_len, &b->tags, p);
    return TR_OK;
}

static int accuracy_score(RewardTerm *t, const RewardCtx *c, double *out, float *tok) {
    const Builtin *b = t->state;
    VerifyParts p;
    int rc = record_parts(b, c, &p);
    if (rc) return rc;
    int ok;
    if ((rc = acc_check(b, c, &p, &ok))) return rc;
    *out = ok;
    return TR_OK;
}

/* ---- equation ---- */

static int equation_check(const RewardCtx *c, const VerifyParts *p, int *ok) {
    double nums[32];
    *ok = 0;
    int n = record_meta_nums(c->rec, "numbers", nums, 32);
    double target = record_meta_num(c->rec, "target", NAN);
    if (n < 0 || !isfinite(target))
        return tr_err(TR_EINVAL, "record '%s': equation needs meta.numbers (array) and "
                      "meta.target (number)", rec_id(c));
    if (n > 32) return tr_err(TR_EINVAL, "record '%s': more than 32 numbers", rec_id(c));
    if (!p->answer) return TR_OK;
    *ok = verify_equation(p->answer, p->answer_len, nums, n, target, NULL, 0) == 1;
    return TR_OK;
}

static int equation_score(RewardTerm *t, const RewardCtx *c, double *out, float *tok) {
    const Builtin *b = t->state;
    VerifyParts p;
    int rc = record_parts(b, c, &p);
    if (rc) return rc;
    int ok;
    if ((rc = equation_check(c, &p, &ok))) return rc;
    *out = ok;
    return TR_OK;
}

/* ---- iou ---- */

/* A number at s[*i]: [+-] (digits [. digits] | . digits) [e [+-] digits]. */
static int scan_num(const char *s, size_t n, size_t *i, double *out) {
    size_t j = *i, st = j;
    if (j < n && (s[j] == '+' || s[j] == '-')) j++;
    size_t d = 0;
    while (j < n && is_digit((unsigned char)s[j])) j++, d++;
    if (j < n && s[j] == '.') {
        j++;
        while (j < n && is_digit((unsigned char)s[j])) j++, d++;
    }
    if (d == 0) return 0;
    if (j < n && (s[j] == 'e' || s[j] == 'E')) {
        size_t k = j + 1;
        if (k < n && (s[k] == '+' || s[k] == '-')) k++;
        if (k < n && is_digit((unsigned char)s[k])) {
            while (k < n && is_digit((unsigned char)s[k])) k++;
            j = k;
        }
    }
    char buf[64];
    if (j - st >= sizeof buf) return 0;
    memcpy(buf, s + st, j - st);
    buf[j - st] = '\0';
    *out = strtod(buf, NULL);
    *i = j;
    return 1;
}

/* Four numbers from s[*i], separated by ',' and/or whitespace; *i moves
 * past them (and trailing whitespace). */
static int scan_four(const char *s, size_t n, size_t *i, double box[4]) {
    size_t j = *i;
    for (int k = 0; k < 4; k++) {
        while (j < n && is_ws((unsigned char)s[j])) j++;
        if (k > 0) {
            size_t before = j;
            if (j < n && s[j] == ',') j++;
            while (j < n && is_ws((unsigned char)s[j])) j++;
            if (j == before && !(before > 0 && is_ws((unsigned char)s[before - 1]))) return 0;
        }
        if (!scan_num(s, n, &j, &box[k])) return 0;
    }
    while (j < n && is_ws((unsigned char)s[j])) j++;
    *i = j;
    return 1;
}

static int box_valid(const double b[4]) {
    for (int k = 0; k < 4; k++)
        if (!isfinite(b[k])) return 0;
    return b[0] <= b[2] && b[1] <= b[3];
}

int reward_parse_box(const char *text, size_t n, int which, double box[4]) {
    if (!text) return 0;
    int found = 0;
    double cur[4];
    for (size_t i = 0; i < n; i++) {
        char open = text[i];
        if (open != '[' && open != '(') continue;
        char close = open == '[' ? ']' : ')';
        size_t j = i + 1;
        if (scan_four(text, n, &j, cur) && j < n && text[j] == close) {
            memcpy(box, cur, sizeof cur);
            found = 1;
            if (which > 0) break;
            i = j;
        }
    }
    if (!found) {
        size_t b = 0, e = n;
        trim(text, &b, &e);
        size_t j = b;
        if (e > b && scan_four(text, e, &j, cur) && j == e) {
            memcpy(box, cur, sizeof cur);
            found = 1;
        }
    }
    return found && box_valid(box);
}

double reward_iou(const double a[4], const double b[4]) {
    double iw = fmin(a[2], b[2]) - fmax(a[0], b[0]);
    double ih = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    double inter = (iw > 0 && ih > 0) ? iw * ih : 0.0;
    double uni = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if (!(uni > 0)) return 0.0;
    return inter / uni;
}

/* IoU of the answer's last box with the record's box (answer text, else
 * meta "box"); 0 when the response has no valid box. */
static int iou_value(const Builtin *b, const RewardCtx *c, const VerifyParts *p, double *iou) {
    double ref[4], got[4];
    *iou = 0;
    int have_ref = c->rec->answer && reward_parse_box(c->rec->answer, strlen(c->rec->answer), 1, ref);
    if (!have_ref) {
        int k = record_meta_nums(c->rec, "box", ref, 4);
        have_ref = k == 4 && box_valid(ref);
    }
    if (!have_ref)
        return tr_err(TR_EINVAL, "record '%s': no valid reference box \"[x1,y1,x2,y2]\" in answer "
                      "('%s') or meta.box", rec_id(c), c->rec->answer ? c->rec->answer : "");
    if (!p->answer || !reward_parse_box(p->answer, p->answer_len, -1, got)) return TR_OK;
    *iou = reward_iou(got, ref);
    return TR_OK;
}

static int iou_score(RewardTerm *t, const RewardCtx *c, double *out, float *tok) {
    const Builtin *b = t->state;
    VerifyParts p;
    int rc = record_parts(b, c, &p);
    if (rc) return rc;
    double iou;
    if ((rc = iou_value(b, c, &p, &iou))) return rc;
    *out = b->hard ? (iou > b->threshold ? 1.0 : 0.0) : iou;
    return TR_OK;
}

/* ---- consistency ---- */

/* Multiple-choice form of an answer: "B", "(B)", "B)", "B." or "B: text";
 * returns the letter in upper case, or 0. */
static int choice_form(const char *s, size_t n) {
    size_t b = 0, e = n;
    trim(s, &b, &e);
    size_t len = e - b;
    const unsigned char *p = (const unsigned char *)s + b;
    if (len == 3 && p[0] == '(' && is_alpha(p[1]) && p[2] == ')') return upper(p[1]);
    if (len >= 1 && is_alpha(p[0])) {
        if (len == 1) return upper(p[0]);
        if (len == 2 && (p[1] == ')' || p[1] == '.')) return upper(p[0]);
        if (p[1] == ':') return upper(p[0]);
    }
    return 0;
}

/* Whether the word ending just before s[e] (case-insensitive) is w. */
static int word_before(const char *s, size_t e, const char *w) {
    size_t wl = strlen(w);
    if (e < wl) return 0;
    size_t b = e - wl;
    if (b > 0 && is_alnum((unsigned char)s[b - 1])) return 0;
    for (size_t k = 0; k < wl; k++)
        if (lower((unsigned char)s[b + k]) != (unsigned char)w[k]) return 0;
    return 1;
}

/* What may stand between "answer" and its letter: "Answer: **B**". */
static int filler(char ch) {
    return is_ws((unsigned char)ch) || ch == ':' || ch == '*' || ch == '"' || ch == '\'';
}

/* The last option letter mentioned in text: "(B)" (either case), an upper
 * case "B)" at a word start, or a standalone upper-case letter after
 * "option", "choice" or "answer" (optionally followed by ':' / "is").
 * Returns the letter or 0. */
static int last_choice(const char *s, size_t n) {
    int last = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!is_alpha(ch)) continue;
        int prev_alnum = i > 0 && is_alnum((unsigned char)s[i - 1]);
        int next_alnum = i + 1 < n && is_alnum((unsigned char)s[i + 1]);
        if (prev_alnum || next_alnum) continue;
        int close = i + 1 < n && s[i + 1] == ')';
        if (close && i > 0 && s[i - 1] == '(') {
            last = upper(ch);
            continue;
        }
        if (ch < 'A' || ch > 'Z') continue;
        if (close) {
            last = ch;
            continue;
        }
        /* look back over spaces, ':', '*', quotes and one "is" */
        size_t e = i;
        while (e > 0 && filler(s[e - 1])) e--;
        if (word_before(s, e, "is")) {
            e -= 2;
            while (e > 0 && filler(s[e - 1])) e--;
        }
        if (word_before(s, e, "option") || word_before(s, e, "choice") ||
            word_before(s, e, "answer"))
            last = ch;
    }
    return last;
}

/* The last number written in text as [b, e): an optional unary '-',
 * digits with thousands groups, decimals, exponent, or a simple fraction
 * "3/4". Returns 1 if there is one. */
static int last_number(const char *s, size_t n, size_t *ob, size_t *oe) {
    int found = 0;
    size_t i = 0;
    while (i < n) {
        if (!is_digit((unsigned char)s[i])) {
            i++;
            continue;
        }
        size_t b = i;
        if (b > 0 && s[b - 1] == '-' &&
            !(b > 1 && (is_alnum((unsigned char)s[b - 2]) || s[b - 2] == ')')))
            b--;
        while (i < n && is_digit((unsigned char)s[i])) i++;
        /* thousands groups: ",ddd" not followed by another digit */
        while (i + 3 < n && s[i] == ',' && is_digit((unsigned char)s[i + 1]) &&
               is_digit((unsigned char)s[i + 2]) && is_digit((unsigned char)s[i + 3]) &&
               !(i + 4 < n && is_digit((unsigned char)s[i + 4])))
            i += 4;
        if (i + 1 < n && s[i] == '/' && is_digit((unsigned char)s[i + 1])) {
            i++;
            while (i < n && is_digit((unsigned char)s[i])) i++;
        } else {
            if (i + 1 < n && s[i] == '.' && is_digit((unsigned char)s[i + 1])) {
                i++;
                while (i < n && is_digit((unsigned char)s[i])) i++;
            }
            /* an exponent only when nothing alphabetic follows it ("3e5",
             * not the "3e" of "3eggs") */
            if (i + 1 < n && (s[i] == 'e' || s[i] == 'E')) {
                size_t k = i + 1;
                if (k < n && (s[k] == '+' || s[k] == '-')) k++;
                if (k < n && is_digit((unsigned char)s[k])) {
                    while (k < n && is_digit((unsigned char)s[k])) k++;
                    if (k == n || !is_alpha((unsigned char)s[k])) i = k;
                }
            }
        }
        *ob = b;
        *oe = i;
        found = 1;
    }
    return found;
}

/* Lower-cased copy with whitespace runs as one space, trimmed, one
 * trailing '.' dropped. */
static char *norm_text(const char *s, size_t n, int drop_dot) {
    size_t b = 0, e = n;
    trim(s, &b, &e);
    if (drop_dot && e > b && s[e - 1] == '.') {
        e--;
        trim(s, &b, &e);
    }
    char *o = malloc(e - b + 1);
    if (!o) return NULL;
    size_t j = 0;
    for (size_t i = b; i < e; i++) {
        if (is_ws((unsigned char)s[i])) {
            if (j > 0 && o[j - 1] != ' ') o[j++] = ' ';
        } else {
            o[j++] = (char)lower((unsigned char)s[i]);
        }
    }
    o[j] = '\0';
    return o;
}

/* Whether answer text (normalised) occurs in the think text (normalised)
 * with no letter or digit joined to it on either side. */
static int text_mentioned(const char *think, size_t tn, const char *ans, size_t an, int *ok) {
    *ok = 0;
    char *t = norm_text(think, tn, 0), *a = norm_text(ans, an, 1);
    if (!t || !a) {
        free(t);
        free(a);
        return tr_err(TR_ENOMEM, "out of memory");
    }
    size_t al = strlen(a);
    if (al > 0) {
        for (const char *p = strstr(t, a); p; p = strstr(p + 1, a)) {
            int l = p > t && is_alnum((unsigned char)p[-1]) && is_alnum((unsigned char)a[0]);
            int r = p[al] && is_alnum((unsigned char)p[al]) && is_alnum((unsigned char)a[al - 1]);
            if (!l && !r) {
                *ok = 1;
                break;
            }
        }
    }
    free(t);
    free(a);
    return TR_OK;
}

/* 1 into *ok when the think part's final conclusion agrees with the answer
 * part; the kind of conclusion is decided by the form of the answer. */
static int consistency_check(const Builtin *b, const VerifyParts *p, int *ok) {
    *ok = 0;
    if (!p->think || !p->answer) return TR_OK;
    const char *th = p->think, *an = p->answer;
    size_t tn = p->think_len, anl = p->answer_len;
    double abox[4], tbox[4];
    if (reward_parse_box(an, anl, -1, abox)) {
        if (!reward_parse_box(th, tn, -1, tbox)) return TR_OK;
        if (b->box_iou > 0) {
            *ok = reward_iou(abox, tbox) >= b->box_iou;
        } else {
            int same = 1;
            for (int k = 0; k < 4; k++) {
                double d = fabs(abox[k] - tbox[k]);
                if (!(d <= 1e-9 * fmax(1.0, fmax(fabs(abox[k]), fabs(tbox[k]))))) same = 0;
            }
            *ok = same;
        }
        return TR_OK;
    }
    int letter = choice_form(an, anl);
    if (letter) {
        *ok = last_choice(th, tn) == letter;
        return TR_OK;
    }
    size_t ab = 0, ae = anl;
    trim(an, &ab, &ae);
    if (ae > ab && an[ae - 1] == '.') ae--;
    if (verify_number(an + ab, ae - ab, NULL)) {
        size_t nb, ne;
        if (!last_number(th, tn, &nb, &ne)) return TR_OK;
        char *ref = dup_n(an, anl);
        if (!ref) return tr_err(TR_ENOMEM, "out of memory");
        *ok = verify_answer(th + nb, ne - nb, ref) == 1;
        free(ref);
        return TR_OK;
    }
    /* an expression (countdown): the think part concludes with its value
     * ("4+6=10,3*10=30" for "3*(4+6)"), or writes the expression itself */
    VerifyExpr ex;
    size_t nb, ne;
    double v;
    if (verify_expr(an + ab, ae - ab, &ex) && last_number(th, tn, &nb, &ne) && verify_number(th + nb, ne - nb, &v) &&
        fabs(v - ex.value) <= 1e-9 * fmax(1.0, fabs(ex.value))) {
        *ok = 1;
        return TR_OK;
    }
    return text_mentioned(th, tn, an, anl, ok);
}

int reward_consistent(const char *resp, size_t n, const VerifyTags *tags, int *ok) {
    Builtin b;
    memset(&b, 0, sizeof b);
    b.tags = tags ? *tags : (VerifyTags){"think", "answer"};
    VerifyParts p;
    verify_parse(resp, n, &b.tags, &p);
    return consistency_check(&b, &p, ok);
}

static int consistency_score(RewardTerm *t, const RewardCtx *c, double *out, float *tok) {
    const Builtin *b = t->state;
    int rc = need_response(c);
    if (rc) return rc;
    VerifyParts p;
    verify_parse(c->response, c->response_len, &b->tags, &p);
    int ok;
    if ((rc = consistency_check(b, &p, &ok))) return rc;
    *out = ok;
    return TR_OK;
}

/* ---- taco: acc + fmt + w_tac * 1[consistent AND correct] ---- */

static int taco_score(RewardTerm *t, const RewardCtx *c, double *out, float *tok) {
    const Builtin *b = t->state;
    VerifyParts p;
    int rc = record_parts(b, c, &p);
    if (rc) return rc;
    double acc = 0;
    int correct = 0, ok;
    if (b->acc == ACC_IOU) {
        double iou;
        if ((rc = iou_value(b, c, &p, &iou))) return rc;
        correct = iou > b->threshold;
        acc = b->hard ? correct : iou;
    } else {
        rc = b->acc == ACC_EQUATION ? equation_check(c, &p, &ok) : acc_check(b, c, &p, &ok);
        if (rc) return rc;
        correct = ok;
        acc = ok;
    }
    int consistent;
    if ((rc = consistency_check(b, &p, &consistent))) return rc;
    *out = acc + (p.format_ok ? 1.0 : 0.0) + b->w_tac * (consistent && correct ? 1.0 : 0.0);
    return TR_OK;
}

/* ---- length: DAPO soft overlong penalty ---- */

double reward_overlong(int len, int l_max, int l_cache) {
    TR_ASSERT(l_cache > 0 && l_cache <= l_max);
    int l_exp = l_max - l_cache;
    if (len <= l_exp) return 0.0;
    if (len <= l_max) return (double)(l_exp - len) / (double)l_cache;
    return -1.0;
}

static int length_score(RewardTerm *t, const RewardCtx *c, double *out, float *tok) {
    const Builtin *b = t->state;
    long lmax = b->l_max > 0 ? b->l_max : c->max_tokens;
    if (lmax <= 0)
        return tr_err(TR_EINVAL, "no L_max: set option max= or pass max_tokens in the context");
    long lcache = b->l_cache > 0 ? b->l_cache : lmax / 5;
    if (lcache < 1) lcache = 1;
    if (lcache > lmax) return tr_err(TR_EINVAL, "cache %ld exceeds max %ld", lcache, lmax);
    if (c->n_tokens < 0) return tr_err(TR_EINVAL, "response length %d tokens", c->n_tokens);
    *out = reward_overlong(c->n_tokens, (int)lmax, (int)lcache);
    return TR_OK;
}

/* ---- contains: whole-word presence of listed words ---- */

enum { CONTAINS_ANY, CONTAINS_ALL, CONTAINS_NONE };

/* The words split out of one owned copy of the option ('|' made NUL). */
typedef struct {
    char *buf;
    const char **word;
    int n;
    int mode;
    int fold;   /* case=false: compare ASCII letters case-folded */
} Contains;

static void contains_free(RewardTerm *t) {
    Contains *k = t->state;
    if (k) {
        free(k->buf);
        free(k->word);
        free(k);
    }
    t->state = NULL;
}

/* Splits words= on '|' (spaces around each word dropped; an empty word is
 * an error: "She||her" is a typo more often than a wish to match ""). */
static int contains_words(Contains *k, const char *v, const char *name) {
    int n = 1;
    for (const char *p = v; *p; p++) n += *p == '|';
    k->buf = strdup(v);
    k->word = calloc((size_t)n, sizeof *k->word);
    if (!k->buf || !k->word) return tr_err(TR_ENOMEM, "out of memory");
    char *p = k->buf;
    for (int i = 0; i < n; i++) {
        char *bar = strchr(p, '|');
        if (bar) *bar = '\0';
        size_t b = 0, e = strlen(p);
        trim(p, &b, &e);
        p[e] = '\0';
        if (b == e)
            return tr_err(TR_EINVAL,
                          "reward '%s': option 'words': word %d of %d is empty in '%s' "
                          "(expected words separated by '|', e.g. words='She|her')",
                          name, i + 1, n, v);
        k->word[k->n++] = p + b;
        p = bar ? bar + 1 : p + e;
    }
    return TR_OK;
}

static int contains_init(RewardTerm *t) {
    Contains *k = calloc(1, sizeof *k);
    if (!k) return tr_err(TR_ENOMEM, "out of memory");
    t->state = k;
    const char *name = t->def->name, *v;
    if ((v = reward_opt(t, "mode")) && strcmp(v, "any") == 0) k->mode = CONTAINS_ANY;
    else if (v && strcmp(v, "all") == 0) k->mode = CONTAINS_ALL;
    else if (v && strcmp(v, "none") == 0) k->mode = CONTAINS_NONE;
    else
        return tr_err(TR_EINVAL, "reward '%s': option 'mode': expected any, all or none, got '%s'",
                      name, v ? v : "");
    if ((v = reward_opt(t, "case")) && strcmp(v, "true") == 0) k->fold = 0;
    else if (v && strcmp(v, "false") == 0) k->fold = 1;
    else
        return tr_err(TR_EINVAL,
                      "reward '%s': option 'case': expected true (case-sensitive) or false, "
                      "got '%s'",
                      name, v ? v : "");
    v = reward_opt(t, "words");
    if (!v || !v[0])
        return tr_err(TR_EINVAL, "reward '%s': option 'words' is empty (e.g. words='She|her')",
                      name);
    return contains_words(k, v, name);
}

/* Whether w occurs in s[0..n) with no letter, digit or '_' joined to it on
 * either side. Bytes >= 0x80 count as separators, as in is_alnum. */
static int has_word(const char *s, size_t n, const char *w, int fold) {
    size_t wl = strlen(w);
    for (size_t i = 0; i + wl <= n; i++) {
        size_t j = 0;
        if (fold)
            while (j < wl && lower((unsigned char)s[i + j]) == lower((unsigned char)w[j])) j++;
        else
            while (j < wl && s[i + j] == w[j]) j++;
        if (j < wl) continue;
        if (i > 0 && is_alnum((unsigned char)s[i - 1])) continue;
        if (i + wl < n && is_alnum((unsigned char)s[i + wl])) continue;
        return 1;
    }
    return 0;
}

static int contains_score(RewardTerm *t, const RewardCtx *c, double *out, float *tok) {
    const Contains *k = t->state;
    int rc = need_response(c);
    if (rc) return rc;
    int found = 0;
    for (int i = 0; i < k->n; i++) found += has_word(c->response, c->response_len, k->word[i], k->fold);
    int v = k->mode == CONTAINS_ANY ? found > 0 : k->mode == CONTAINS_ALL ? found == k->n : found == 0;
    *out = v ? 1.0 : 0.0;
    return TR_OK;
}

/* ----------------------------------------------------------------- exec -- */

#define EXEC_TAIL 1024          /* stderr bytes kept for error messages */
#define EXEC_LINE_MAX (1 << 20) /* longest reply line */
#define EXEC_GRACE 1.0          /* seconds a verifier gets to exit on EOF */

typedef struct {
    char *cmd;      /* the command line as configured */
    char **argv;    /* split from cmd, NULL-terminated */
    char *name;     /* argv joined by spaces: names the verifier in errors */
    double timeout; /* seconds to wait for each reply */
    pid_t pid;      /* -1: not running */
    int to_fd, from_fd, err_fd;
    char *in;       /* stdout bytes read but not yet consumed */
    size_t in_len, in_cap;
    char tail[EXEC_TAIL];
    size_t tail_len;
    long n_replies; /* replies from this process; the next reply answers request id n_replies */
    int n_starts;
    int ids;        /* this process has echoed a request id: every reply must */
} Exec;

void reward_argv_free(char **argv) {
    if (!argv) return;
    for (char **p = argv; *p; p++) free(*p);
    free(argv);
}

/* See split_cmd.h. No expansion, no shell is started. */
int reward_split_cmd(const char *s, char ***out) {
    size_t n = strlen(s);
    char **argv = calloc(n / 2 + 2, sizeof *argv);
    char *word = malloc(n + 1);
    int argc = 0;
    if (!argv || !word) goto oom;
    size_t i = 0;
    for (;;) {
        while (i < n && is_ws((unsigned char)s[i])) i++;
        if (i >= n) break;
        size_t w = 0;
        while (i < n && !is_ws((unsigned char)s[i])) {
            char ch = s[i++];
            if (ch == '\'') {
                while (i < n && s[i] != '\'') word[w++] = s[i++];
                if (i >= n) goto unbalanced;
                i++;
            } else if (ch == '"') {
                while (i < n && s[i] != '"') {
                    if (s[i] == '\\' && i + 1 < n && (s[i + 1] == '"' || s[i + 1] == '\\')) i++;
                    word[w++] = s[i++];
                }
                if (i >= n) goto unbalanced;
                i++;
            } else if (ch == '\\' && i < n) {
                word[w++] = s[i++];
            } else {
                word[w++] = ch;
            }
        }
        argv[argc] = dup_n(word, w);
        if (!argv[argc]) goto oom;
        argc++;
    }
    free(word);
    if (argc == 0) {
        free(argv);
        return tr_err(TR_EINVAL, "reward 'exec': option 'cmd' is empty (set cmd=\"program args\")");
    }
    *out = argv;
    return TR_OK;
unbalanced:
    free(word);
    reward_argv_free(argv);
    return tr_err(TR_EINVAL, "reward 'exec': option 'cmd': unbalanced quote in '%s'", s);
oom:
    free(word);
    reward_argv_free(argv);
    return tr_err(TR_ENOMEM, "out of memory");
}

static void tail_add(Exec *e, const char *b, size_t n) {
    if (n >= EXEC_TAIL) {
        memcpy(e->tail, b + n - EXEC_TAIL, EXEC_TAIL);
        e->tail_len = EXEC_TAIL;
        return;
    }
    if (e->tail_len + n > EXEC_TAIL) {
        size_t drop = e->tail_len + n - EXEC_TAIL;
        memmove(e->tail, e->tail + drop, e->tail_len - drop);
        e->tail_len -= drop;
    }
    memcpy(e->tail + e->tail_len, b, n);
    e->tail_len += n;
}

/* Reads what stderr has now (non-blocking); closes it at EOF. */
static void drain_err(Exec *e) {
    char buf[4096];
    while (e->err_fd >= 0) {
        ssize_t r = read(e->err_fd, buf, sizeof buf);
        if (r > 0) {
            tail_add(e, buf, (size_t)r);
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) {
            close(e->err_fd);
            e->err_fd = -1;
        }
        break;
    }
}

/* "; stderr: ...last lines..." for error messages ("" when silent). */
static void tail_text(const Exec *e, char *out, size_t cap) {
    size_t b = 0, n = e->tail_len;
    while (b < n && is_ws((unsigned char)e->tail[b])) b++;
    while (n > b && is_ws((unsigned char)e->tail[n - 1])) n--;
    out[0] = '\0';
    if (n == b) return;
    size_t keep = 600;
    if (n - b > keep) b = n - keep;
    size_t o = (size_t)snprintf(out, cap, "; stderr: %s", n - b == keep ? "..." : "");
    for (size_t i = b; i < n && o + 4 < cap; i++) {
        char ch = e->tail[i];
        if (ch == '\n') {
            memcpy(out + o, " | ", 3);
            o += 3;
        } else if (ch != '\r') {
            out[o++] = ((unsigned char)ch < 32 && ch != '\t') ? '?' : ch;
        }
    }
    out[o] = '\0';
}

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Verifiers alive in this process, so that a SIGINT, SIGTERM or SIGHUP to
 * thinkrl takes their process groups along: each runs in a group of its
 * own, which a Ctrl-C in the terminal does not reach. The handler is
 * installed only where the signal still has its default action (a program
 * embedding the library keeps its own). */
#define EXEC_LIVE_MAX 64
static pid_t exec_live[EXEC_LIVE_MAX];

static void exec_on_signal(int sig) {
    for (int i = 0; i < EXEC_LIVE_MAX; i++) {
        pid_t p = __atomic_load_n(&exec_live[i], __ATOMIC_RELAXED);
        if (p > 0) kill(-p, SIGKILL);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void exec_track(pid_t pid) {
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) {
        struct sigaction old;
        if (sigaction(sigs[k], NULL, &old) == 0 && old.sa_handler == SIG_DFL && !(old.sa_flags & SA_SIGINFO)) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = exec_on_signal;
            sigemptyset(&sa.sa_mask);
            sigaction(sigs[k], &sa, NULL);
        }
    }
    for (int i = 0; i < EXEC_LIVE_MAX; i++) {
        pid_t none = 0;
        if (__atomic_compare_exchange_n(&exec_live[i], &none, pid, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return;
    }
}

static void exec_untrack(pid_t pid) {
    for (int i = 0; i < EXEC_LIVE_MAX; i++) {
        pid_t p = pid;
        if (__atomic_compare_exchange_n(&exec_live[i], &p, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return;
    }
}

/* Reaps the verifier after killing what is left of its process group
 * (children it started and did not wait for). Until it is reaped its pid,
 * the group's id, cannot be reused, so the kill reaches only its group. */
static void reap_group(Exec *e, int *status) {
    kill(-e->pid, SIGKILL);
    exec_untrack(e->pid);
    while (waitpid(e->pid, status, 0) < 0 && errno == EINTR) {
    }
}

/* Waits up to `secs` for the verifier to exit (draining its stderr);
 * returns 1 with *status when it did. */
static int wait_exit(Exec *e, double secs, int *status) {
    double end = tr_time() + secs;
    for (;;) {
        siginfo_t si;
        si.si_pid = 0;
        int r = waitid(P_PID, (id_t)e->pid, &si, WEXITED | WNOHANG | WNOWAIT);
        if (r < 0 && errno == ECHILD) {
            exec_untrack(e->pid);
            *status = 0;
            return 1;
        }
        if (r == 0 && si.si_pid == e->pid) {
            reap_group(e, status);
            return 1;
        }
        drain_err(e);
        if (tr_time() >= end) return 0;
        sleep_ms(5);
    }
}

/* Forgets the process (already reaped) and closes the pipes. */
static void exec_reset(Exec *e) {
    e->pid = -1;
    close_fd(&e->to_fd);
    close_fd(&e->from_fd);
    close_fd(&e->err_fd);
    e->in_len = 0;
}

/* Kills the verifier's process group and reaps it: after a failure the
 * protocol is out of step, so the next call starts a fresh one. */
static void exec_kill(Exec *e) {
    if (e->pid > 0) {
        int st;
        kill(e->pid, SIGKILL);
        reap_group(e, &st);
    }
    exec_reset(e);
}

/* Orderly stop: EOF on its stdin, a grace period, then TERM, then KILL. */
static void exec_stop(Exec *e) {
    if (e->pid <= 0) {
        exec_reset(e);
        return;
    }
    close_fd(&e->to_fd);
    int st;
    if (!wait_exit(e, EXEC_GRACE, &st)) {
        kill(-e->pid, SIGTERM);
        if (!wait_exit(e, 0.5, &st)) {
            exec_kill(e);
            return;
        }
    }
    exec_reset(e);
}

static int set_flags(int fd, int nonblock) {
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) return -1;
    if (nonblock) {
        fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
    }
    return 0;
}

static int exec_start(Exec *e) {
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    int rc = TR_OK;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int fa_ok = 0, at_ok = 0;
    e->tail_len = 0;
    e->in_len = 0;
    e->n_replies = 0;
    e->ids = 0;
    if (pipe(in) || pipe(out) || pipe(err)) {
        rc = tr_err(TR_EIO, "verifier '%s': pipe: %s", e->name, strerror(errno));
        goto done;
    }
    /* our ends (and, until dup2 in the child, theirs) close on exec, so a
     * second verifier does not hold this one's stdin open */
    for (int k = 0; k < 2; k++)
        if (set_flags(in[k], k == 1) || set_flags(out[k], k == 0) || set_flags(err[k], k == 0)) {
            rc = tr_err(TR_EIO, "verifier '%s': fcntl: %s", e->name, strerror(errno));
            goto done;
        }
    if (posix_spawn_file_actions_init(&fa) == 0) fa_ok = 1;
    if (posix_spawnattr_init(&at) == 0) at_ok = 1;
    if (!fa_ok || !at_ok) {
        rc = tr_err(TR_ENOMEM, "verifier '%s': posix_spawn setup failed", e->name);
        goto done;
    }
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    /* an ordinary signal state (we may be blocking SIGPIPE right now), and
     * its own process group so a timeout can kill its children too */
    sigset_t none, deflt;
    sigemptyset(&none);
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGPIPE);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &deflt);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
    pid_t pid;
    int r = posix_spawnp(&pid, e->argv[0], &fa, &at, e->argv, environ);
    if (r != 0) {
        rc = tr_err(TR_EIO, "cannot start verifier '%s': %s", e->name, strerror(r));
        goto done;
    }
    e->pid = pid;
    exec_track(pid);
    e->to_fd = in[1];
    e->from_fd = out[0];
    e->err_fd = err[0];
    in[1] = out[0] = err[0] = -1;
    e->n_starts++;
done:
    if (fa_ok) posix_spawn_file_actions_destroy(&fa);
    if (at_ok) posix_spawnattr_destroy(&at);
    for (int k = 0; k < 2; k++) {
        close_fd(&in[k]);
        close_fd(&out[k]);
        close_fd(&err[k]);
    }
    return rc;
}

static int exec_init(RewardTerm *t) {
    Exec *e = calloc(1, sizeof *e);
    if (!e) return tr_err(TR_ENOMEM, "out of memory");
    t->state = e;
    e->pid = -1;
    e->to_fd = e->from_fd = e->err_fd = -1;
    int rc = reward_opt_num(t, "timeout", 1e-3, 1e6, &e->timeout);
    if (rc) return rc;
    const char *cmd = reward_opt(t, "cmd");
    e->cmd = strdup(cmd ? cmd : "");
    if (!e->cmd) return tr_err(TR_ENOMEM, "out of memory");
    if ((rc = reward_split_cmd(e->cmd, &e->argv))) return rc;
    size_t len = 1;
    for (char **a = e->argv; *a; a++) len += strlen(*a) + 1;
    e->name = malloc(len);
    if (!e->name) return tr_err(TR_ENOMEM, "out of memory");
    e->name[0] = '\0';
    for (char **a = e->argv; *a; a++) {
        if (a != e->argv) strcat(e->name, " ");
        strcat(e->name, *a);
    }
    return exec_start(e);
}

static void exec_free(RewardTerm *t) {
    Exec *e = t->state;
    if (!e) return;
    exec_stop(e);
    free(e->cmd);
    free(e->name);
    reward_argv_free(e->argv);
    free(e->in);
    free(e);
    t->state = NULL;
}

long reward_exec_pid(const RewardSet *s, int i) {
    if (i < 0 || i >= s->n || !s->term[i].def || s->term[i].def->init != exec_init) return -1;
    const Exec *e = s->term[i].state;
    return e && e->pid > 0 ? (long)e->pid : -1;
}

int reward_set_restart(RewardSet *s) {
    for (int i = 0; i < s->n; i++) {
        RewardTerm *t = &s->term[i];
        if (t->def->init != exec_init || !t->state) continue;
        Exec *e = t->state;
        exec_stop(e);
        int rc = exec_start(e);
        if (rc) return tr_err_ctx(rc, "reward '%s'", t->def->name);
    }
    return TR_OK;
}

/* The record as JSON: the fields record_write writes (meta by reference). */
static cJSON *record_json(const Record *r) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int ok = 1;
    if (r->id) ok &= cJSON_AddStringToObject(o, "id", r->id) != NULL;
    if (r->prompt) ok &= cJSON_AddStringToObject(o, "prompt", r->prompt) != NULL;
    if (r->n_messages > 0 && r->messages) {
        cJSON *a = cJSON_AddArrayToObject(o, "messages");
        ok &= a != NULL;
        for (int i = 0; ok && i < r->n_messages; i++) {
            cJSON *m = cJSON_CreateObject();
            ok &= m && cJSON_AddItemToArray(a, m);
            const DataMsg *dm = &r->messages[i];
            ok &= m && cJSON_AddStringToObject(m, "role", dm->role ? dm->role : "") != NULL;
            ok &= m && cJSON_AddStringToObject(m, "content", dm->content ? dm->content : "") != NULL;
        }
    }
    if (r->completion) ok &= cJSON_AddStringToObject(o, "completion", r->completion) != NULL;
    if (r->answer) ok &= cJSON_AddStringToObject(o, "answer", r->answer) != NULL;
    if (r->n_images > 0 && r->images) {
        cJSON *a = cJSON_AddArrayToObject(o, "images");
        ok &= a != NULL;
        for (int i = 0; ok && i < r->n_images; i++)
            ok &= cJSON_AddItemToArray(a, cJSON_CreateString(r->images[i] ? r->images[i] : ""));
    }
    if (ok && r->meta) ok &= cJSON_AddItemReferenceToObject(o, "meta", r->meta);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The prompt text sent: the context's, else the record's prompt, else its
 * last user message. */
static const char *prompt_text(const RewardCtx *c) {
    if (c->prompt) return c->prompt;
    if (!c->rec) return NULL;
    if (c->rec->prompt) return c->rec->prompt;
    for (int i = c->rec->n_messages - 1; i >= 0; i--)
        if (c->rec->messages[i].role && strcmp(c->rec->messages[i].role, "user") == 0)
            return c->rec->messages[i].content;
    return NULL;
}

/* Appends request `id` (the count of requests this verifier process was
 * sent before it) for c to *buf as one JSON line; c passed need_response. */
static int append_request(char **buf, size_t *len, size_t *cap, const RewardCtx *c, long id) {
    cJSON *o = cJSON_CreateObject();
    char *resp = utf8_clean(c->response ? c->response : "", c->response_len);
    const char *pt = prompt_text(c);
    char *prm = pt ? utf8_clean(pt, strlen(pt)) : NULL;
    char *text = NULL;
    int ok = o && resp && (!pt || prm);
    if (ok)
        ok = (prm ? cJSON_AddStringToObject(o, "prompt", prm) : cJSON_AddNullToObject(o, "prompt")) !=
             NULL;
    if (ok) ok = cJSON_AddStringToObject(o, "response", resp) != NULL;
    if (ok) {
        cJSON *r = c->rec ? record_json(c->rec) : cJSON_CreateNull();
        ok = r && cJSON_AddItemToObject(o, "record", r);
        if (r && !ok) cJSON_Delete(r);
    }
    if (ok) ok = cJSON_AddNumberToObject(o, "n_tokens", c->n_tokens) != NULL;
    if (ok) ok = cJSON_AddBoolToObject(o, "truncated", c->truncated != 0) != NULL;
    if (ok) ok = cJSON_AddNumberToObject(o, "id", (double)id) != NULL;
    if (ok) ok = (text = cJSON_PrintUnformatted(o)) != NULL;
    if (ok) {
        size_t n = strlen(text);
        if (*len + n + 1 > *cap) {
            size_t nc = (*cap ? *cap * 2 : 65536);
            while (nc < *len + n + 1) nc *= 2;
            char *nb = realloc(*buf, nc);
            if (!nb) ok = 0;
            else *buf = nb, *cap = nc;
        }
        if (ok) {
            memcpy(*buf + *len, text, n);
            (*buf)[*len + n] = '\n';
            *len += n + 1;
        }
    }
    free(text);
    free(resp);
    free(prm);
    cJSON_Delete(o);
    return ok ? TR_OK : tr_err(TR_ENOMEM, "out of memory building a verifier request");
}

/* Shows the start of a reply line safely in an error message. */
static void quote_line(const char *s, size_t n, char *out, size_t cap) {
    size_t o = 0, lim = 120;
    for (size_t i = 0; i < n && i < lim && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[o++] = (ch < 32 || ch == 127) ? '?' : (char)ch;
    }
    if (n > lim && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* Parses reply line k (1-based within the call) into *v. */
static int parse_reply(Exec *e, const char *s, size_t n, long k, long total, double *v) {
    char q[160], tl[700];
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    int rest_ok = 1;
    if (j && end) {
        size_t used = (size_t)(end - s);
        for (size_t i = used; i < n; i++)
            if (!is_ws((unsigned char)s[i]) && s[i] != '\0') rest_ok = 0;
    }
    if (!j || !rest_ok || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        quote_line(s, n, q, sizeof q);
        drain_err(e);
        tail_text(e, tl, sizeof tl);
        return tr_err(TR_EFORMAT, "verifier '%s': reply %ld of %ld is not a JSON object: '%s'%s",
                      e->name, k, total, q, tl);
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "reward");
    int rc = TR_OK;
    if (!r) {
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
        quote_line(s, n, q, sizeof q);
        if (cJSON_IsString(err))
            rc = tr_err(TR_EFORMAT, "verifier '%s': reports an error for request %ld of %ld: %s",
                        e->name, k, total, err->valuestring);
        else
            rc = tr_err(TR_EFORMAT, "verifier '%s': reply %ld of %ld has no \"reward\": '%s'",
                        e->name, k, total, q);
    } else if (!cJSON_IsNumber(r) || !isfinite(r->valuedouble)) {
        quote_line(s, n, q, sizeof q);
        rc = tr_err(TR_EFORMAT,
                    "verifier '%s': reply %ld of %ld: \"reward\" is not a finite number: '%s'",
                    e->name, k, total, q);
    } else {
        *v = r->valuedouble;
    }
    /* The id ties a reply to its request. A verifier that echoes it once is
     * held to it: a reply without one (a second answer to one request,
     * say) would otherwise be taken for the next request's. */
    const cJSON *id = rc ? NULL : cJSON_GetObjectItemCaseSensitive(j, "id");
    if (id) {
        if (!cJSON_IsNumber(id) || id->valuedouble != (double)e->n_replies) {
            char num[64];
            if (cJSON_IsNumber(id)) snprintf(num, sizeof num, "%.17g", id->valuedouble);
            else snprintf(num, sizeof num, "that is not a number");
            quote_line(s, n, q, sizeof q);
            rc = tr_err(TR_EFORMAT,
                        "verifier '%s': reply %ld of %ld answers \"id\" %s, but the request it is read "
                        "for has id %ld (one reply per request, in order): '%s'",
                        e->name, k, total, num, e->n_replies, q);
        } else {
            e->ids = 1;
        }
    } else if (!rc && e->ids) {
        quote_line(s, n, q, sizeof q);
        rc = tr_err(TR_EFORMAT,
                    "verifier '%s': reply %ld of %ld has no \"id\" though its earlier replies echoed "
                    "theirs (a reply nobody asked for?): '%s'",
                    e->name, k, total, q);
    }
    cJSON_Delete(j);
    return rc;
}

static const char *plural(long n) { return n == 1 ? "y" : "ies"; }

/* The error for a verifier whose stdout ended: how it ended, what it said. */
static int exec_died(Exec *e, long got, long n) {
    int st = 0;
    char how[128], tl[700];
    if (wait_exit(e, EXEC_GRACE, &st)) {
        if (WIFEXITED(st))
            snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(st));
        else if (WIFSIGNALED(st))
            snprintf(how, sizeof how, "was killed by signal %d (%s)", WTERMSIG(st),
                     strsignal(WTERMSIG(st)));
        else
            snprintf(how, sizeof how, "ended");
        e->pid = -1;
    } else {
        snprintf(how, sizeof how, "closed its stdout (still running: killed it)");
        exec_kill(e);
    }
    drain_err(e);
    tail_text(e, tl, sizeof tl);
    long life = e->n_replies;
    exec_reset(e);
    return tr_err(TR_EIO, "verifier '%s' %s after %ld repl%s (no reply to request %ld of %ld)%s",
                  e->name, how, life, plural(life), got + 1, n, tl);
}

/* Room for 64 KiB more of stdout in e->in. */
static int in_reserve(Exec *e) {
    if (e->in_len + 65536 <= e->in_cap) return TR_OK;
    size_t nc = e->in_cap ? e->in_cap * 2 : 131072;
    while (nc < e->in_len + 65536) nc *= 2;
    char *nb = realloc(e->in, nc);
    if (!nb) return tr_err(TR_ENOMEM, "out of memory reading verifier replies");
    e->in = nb;
    e->in_cap = nc;
    return TR_OK;
}

static int has_text(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!is_ws((unsigned char)s[i])) return 1;
    return 0;
}

/* Takes the complete lines buffered in e->in as replies *got + 1, ... of n
 * (blank lines skipped) until n are in out[] or a line is bad; the lines
 * taken leave the buffer. */
static int take_replies(Exec *e, long *got, int n, double *out) {
    while (*got < n) {
        char *nl = e->in_len ? memchr(e->in, '\n', e->in_len) : NULL;
        if (!nl) break;
        size_t ll = (size_t)(nl - e->in);
        size_t b = 0, en = ll;
        trim(e->in, &b, &en);
        if (en > b) {
            double v = 0;
            int rc = parse_reply(e, e->in + b, en - b, *got + 1, n, &v);
            if (rc) return rc;
            out[(*got)++] = v;
            e->n_replies++;
        }
        memmove(e->in, nl + 1, e->in_len - ll - 1);
        e->in_len -= ll + 1;
    }
    return TR_OK;
}

static int err_long_reply(const Exec *e, long got, int n) {
    return tr_err(TR_EFORMAT, "verifier '%s': reply %ld of %d is longer than %d bytes", e->name,
                  got + 1, n, EXEC_LINE_MAX);
}

static int err_extra_replies(const Exec *e, int n) {
    char tl[160];
    quote_line(e->in, e->in_len, tl, sizeof tl);
    return tr_err(TR_EFORMAT, "verifier '%s' sent more replies than requests (%d): '%s'", e->name,
                  n, tl);
}

int reward_exec_replies(const char *text, size_t len, int n, double *out) {
    Exec e;
    memset(&e, 0, sizeof e);
    e.pid = -1;
    e.to_fd = e.from_fd = e.err_fd = -1;
    e.name = (char *)"(replies)";
    if (n < 0) return tr_err(TR_EINVAL, "reward_exec_replies: n = %d", n);
    e.in = malloc(len + 1);
    if (!e.in) return tr_err(TR_ENOMEM, "out of memory");
    if (len) memcpy(e.in, text, len);
    e.in_len = len;
    e.in_cap = len + 1;
    long got = 0;
    int rc = take_replies(&e, &got, n, out);
    if (rc == TR_OK && got < n)
        rc = e.in_len > EXEC_LINE_MAX
                 ? err_long_reply(&e, got, n)
                 : tr_err(TR_EIO, "verifier '%s': no reply to request %ld of %d (end of its output)",
                          e.name, got + 1, n);
    if (rc == TR_OK && has_text(e.in, e.in_len)) rc = err_extra_replies(&e, n);
    free(e.in);
    return rc;
}

/* Scores n responses in one pipelined exchange: all requests are written
 * while replies are read, so neither side blocks on a full pipe. */
static int exec_batch(RewardTerm *t, const RewardCtx *c, int n, double *out) {
    Exec *e = t->state;
    char *req = NULL;
    size_t req_len = 0, req_cap = 0, sent = 0;
    int rc = TR_OK;
    char tl[700];
    if (n <= 0) return TR_OK;
    /* the requests are checked before a verifier is started (a response
     * that cannot be sent is the caller's error); their ids are set once
     * the process that gets them is known */
    for (int i = 0; i < n; i++)
        if ((rc = need_response(&c[i]))) return rc;
    if (e->pid > 0 && e->to_fd < 0) exec_kill(e); /* lost its stdin last time */
    if (e->pid <= 0 && (rc = exec_start(e))) {
        free(req);
        return rc;
    }
    /* whatever it wrote while nobody asked would be taken for replies */
    int eof = 0;
    while (rc == TR_OK) {
        if ((rc = in_reserve(e))) break;
        ssize_t r = read(e->from_fd, e->in + e->in_len, 65536);
        if (r > 0) e->in_len += (size_t)r;
        else if (r < 0 && errno == EINTR) continue;
        else {
            eof = r == 0;
            break;
        }
    }
    if (rc == TR_OK && has_text(e->in, e->in_len)) {
        quote_line(e->in, e->in_len, tl, sizeof tl);
        rc = tr_err(TR_EFORMAT, "verifier '%s' wrote lines nobody asked for (more replies than "
                    "requests?): '%s'", e->name, tl);
    }
    if (rc == TR_OK && eof) rc = exec_died(e, 0, n);
    if (rc != TR_OK) {
        if (e->pid > 0) exec_kill(e);
        free(req);
        return rc;
    }
    e->in_len = 0;
    for (int i = 0; i < n; i++)
        if ((rc = append_request(&req, &req_len, &req_cap, &c[i], e->n_replies + i))) {
            free(req);
            return rc;
        }

    /* a write to a verifier that died raises SIGPIPE: block it here (this
     * thread only), see EPIPE instead, and swallow the pending signal */
    sigset_t pipe_set, old_mask, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
    sigpending(&pending);
    int pipe_pending_before = sigismember(&pending, SIGPIPE) == 1;

    long got = 0;
    double deadline = tr_time() + e->timeout;
    while (got < n && rc == TR_OK) {
        long had = got;
        rc = take_replies(e, &got, n, out);
        if (got > had) deadline = tr_time() + e->timeout;
        if (rc || got >= n) break;
        if (e->in_len > EXEC_LINE_MAX) {
            rc = err_long_reply(e, got, n);
            break;
        }
        if (eof) {
            rc = exec_died(e, got, n);
            break;
        }
        double left = deadline - tr_time();
        if (left <= 0) {
            drain_err(e);
            tail_text(e, tl, sizeof tl);
            rc = tr_err(TR_EIO, "verifier '%s' timed out: no reply to request %ld of %d within "
                        "%g s (killed it)%s", e->name, got + 1, n, e->timeout, tl);
            break;
        }
        struct pollfd pf[3];
        int np = 0, i_out = -1, i_err = -1, i_in = -1;
        pf[np] = (struct pollfd){e->from_fd, POLLIN, 0};
        i_out = np++;
        if (e->err_fd >= 0) {
            pf[np] = (struct pollfd){e->err_fd, POLLIN, 0};
            i_err = np++;
        }
        if (sent < req_len && e->to_fd >= 0) {
            pf[np] = (struct pollfd){e->to_fd, POLLOUT, 0};
            i_in = np++;
        }
        int ms = (int)ceil(left * 1000.0);
        int pr = poll(pf, (nfds_t)np, ms > 0 ? ms : 1);
        if (pr < 0) {
            if (errno == EINTR) continue;
            rc = tr_err(TR_EIO, "verifier '%s': poll: %s", e->name, strerror(errno));
            break;
        }
        if (i_in >= 0 && pf[i_in].revents) {
            size_t chunk = req_len - sent < 65536 ? req_len - sent : 65536;
            ssize_t w = write(e->to_fd, req + sent, chunk);
            if (w > 0) {
                sent += (size_t)w;
            } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                /* EPIPE: it closed stdin or died; its stdout will tell */
                close_fd(&e->to_fd);
            }
        }
        if (i_err >= 0 && pf[i_err].revents) drain_err(e);
        if (pf[i_out].revents) {
            if ((rc = in_reserve(e))) break;
            ssize_t r = read(e->from_fd, e->in + e->in_len, 65536);
            if (r > 0) e->in_len += (size_t)r;
            else if (r == 0) eof = 1;
            else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                eof = 1;
        }
    }

    if (rc == TR_OK && has_text(e->in, e->in_len)) rc = err_extra_replies(e, n);

    sigpending(&pending);
    if (!pipe_pending_before && sigismember(&pending, SIGPIPE) == 1) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    free(req);

    /* any failure leaves the exchange out of step: start afresh next time */
    if (rc != TR_OK && e->pid > 0) exec_kill(e);
    return rc;
}

static int exec_score(RewardTerm *t, const RewardCtx *c, double *out, float *tok) {
    return exec_batch(t, c, 1, out);
}

/* ------------------------------------------------------------ registry -- */

#define TAG_PARAMS                                                                  \
    {"think", "think", "name of the reasoning tag"}, {"answer", "answer", "name of the answer tag"}

static const RewardParam p_tags[] = {TAG_PARAMS};
static const RewardParam p_accuracy[] = {
    TAG_PARAMS, {"task", "", "task scorer for records whose meta names no task (default: none)"}};
static const RewardParam p_iou[] = {
    TAG_PARAMS,
    {"mode", "soft", "soft: reward = IoU; hard: reward = 1[IoU > threshold]"},
    {"threshold", "0.5", "IoU threshold of the hard mode"}};
static const RewardParam p_consistency[] = {
    TAG_PARAMS, {"box_iou", "0", "boxes agree at IoU >= this (0: the same four numbers)"}};
static const RewardParam p_taco[] = {
    TAG_PARAMS,
    {"w_tac", "1", "weight of 1[consistent AND correct]"},
    {"acc", "accuracy", "the correctness check: accuracy, iou or equation"},
    {"task", "", "task scorer for records whose meta names no task (acc=accuracy)"},
    {"mode", "soft", "acc=iou: soft (IoU) or hard (1[IoU > threshold]) accuracy term"},
    {"threshold", "0.5", "acc=iou: IoU above which a box is correct"},
    {"box_iou", "0", "boxes agree at IoU >= this (0: the same four numbers)"}};
static const RewardParam p_length[] = {
    {"max", "0", "L_max in tokens (0: the context's max_tokens)"},
    {"cache", "0", "L_cache in tokens (0: L_max / 5)"}};
static const RewardParam p_contains[] = {
    {"words", "", "words separated by '|', e.g. 'She|her' (required)"},
    {"mode", "any", "1 when any, all or none of the words occur as whole words"},
    {"case", "true", "true: case-sensitive; false: ASCII case ignored"}};
static const RewardParam p_exec[] = {
    {"cmd", "", "verifier command line (split like a shell, no shell run)"},
    {"timeout", "30", "seconds to wait for each reply"}};

#define NP(a) ((int)(sizeof a / sizeof a[0]))

static const RewardDef builtins[] = {
    {"format", "1 if the response is <think>..</think><answer>..</answer> exactly once",
     p_tags, NP(p_tags), builtin_init, format_score, NULL, builtin_free},
    {"accuracy", "1 if the answer solves the record (its task's scorer, else the reference)",
     p_accuracy, NP(p_accuracy), builtin_init, accuracy_score, NULL, builtin_free},
    {"equation", "1 if the answer is an expression over meta.numbers equal to meta.target",
     p_tags, NP(p_tags), builtin_init, equation_score, NULL, builtin_free},
    {"iou", "IoU of the answer's box with the reference box (or 1[IoU > threshold])", p_iou,
     NP(p_iou), builtin_init, iou_score, NULL, builtin_free},
    {"consistency", "1 if the final conclusion inside <think> agrees with the <answer>",
     p_consistency, NP(p_consistency), builtin_init, consistency_score, NULL, builtin_free},
    {"taco", "TACO: acc + fmt + w_tac * 1[consistent AND correct]", p_taco, NP(p_taco),
     builtin_init, taco_score, NULL, builtin_free},
    {"length", "DAPO soft overlong penalty: 0 up to L_max - L_cache, linear to -1 at L_max",
     p_length, NP(p_length), builtin_init, length_score, NULL, builtin_free},
    {"contains", "1 if any (all, none) of the words occurs in the response as a whole word",
     p_contains, NP(p_contains), contains_init, contains_score, NULL, contains_free},
    {"exec", "an external verifier: JSON lines {prompt,response,record} -> {reward}", p_exec,
     NP(p_exec), exec_init, exec_score, exec_batch, exec_free},
};

int reward_count(void) { return NP(builtins); }

const RewardDef *reward_at(int i) {
    return (i >= 0 && i < reward_count()) ? &builtins[i] : NULL;
}

const RewardDef *reward_find(const char *name) {
    if (!name) return NULL;
    for (int i = 0; i < reward_count(); i++)
        if (strcmp(builtins[i].name, name) == 0) return &builtins[i];
    return NULL;
}

/* ----------------------------------------------------------------- sets -- */

void reward_set_init(RewardSet *s) { memset(s, 0, sizeof *s); }

void reward_set_free(RewardSet *s) {
    for (int i = 0; i < s->n; i++) term_clear(&s->term[i]);
    s->n = 0;
}

const char *reward_set_name(const RewardSet *s, int i) {
    return (i >= 0 && i < s->n) ? s->term[i].def->name : NULL;
}

int reward_set_add_def(RewardSet *s, const RewardDef *def, double weight, const char *const *kv,
                       int n) {
    TR_ASSERT(s && def && def->name && def->score);
    if (!isfinite(weight))
        return tr_err(TR_EINVAL, "reward '%s': weight %g is not finite", def->name, weight);
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->term[i].def->name, def->name) == 0)
            return tr_err(TR_EINVAL, "reward '%s' listed twice", def->name);
    if (s->n >= REWARD_MAX_TERMS)
        return tr_err(TR_EINVAL, "more than %d reward functions", REWARD_MAX_TERMS);
    int rc = term_build(&s->term[s->n], def, weight, kv, n);
    if (rc) return rc;
    s->n++;
    return TR_OK;
}

static int unknown_name(const char *name) {
    const char *names[32];
    int n = reward_count();
    for (int i = 0; i < n; i++) names[i] = builtins[i].name;
    char list[256];
    join_names(list, sizeof list, names, n);
    const char *near = closest(name, names, n);
    if (near)
        return tr_err(TR_EINVAL, "unknown reward function '%s' (did you mean '%s'? known: %s)",
                      name, near, list);
    return tr_err(TR_EINVAL, "unknown reward function '%s' (known: %s)", name, list);
}

int reward_set_add(RewardSet *s, const char *name, double weight, const char *const *kv, int n) {
    const RewardDef *def = reward_find(name);
    if (!def) return unknown_name(name ? name : "(null)");
    return reward_set_add_def(s, def, weight, kv, n);
}

/* Parses "(k=v, k='v,w')" at spec[*i] == '(' into kv strings. */
static int parse_opts(const char *spec, size_t *i, char **kv, int *nkv, const char *name) {
    size_t j = *i + 1;
    for (;;) {
        while (is_ws((unsigned char)spec[j])) j++;
        if (spec[j] == ')' && *nkv == 0) break;
        size_t kb = j;
        while (is_alnum((unsigned char)spec[j]) || spec[j] == '-') j++;
        size_t ke = j;
        while (is_ws((unsigned char)spec[j])) j++;
        if (ke == kb || spec[j] != '=')
            return tr_err(TR_EINVAL, "reward '%s': expected key=value at position %zu", name, kb);
        j++;
        while (is_ws((unsigned char)spec[j])) j++;
        size_t vb, ve;
        if (spec[j] == '\'' || spec[j] == '"') {
            char q = spec[j++];
            vb = j;
            while (spec[j] && spec[j] != q) j++;
            if (!spec[j])
                return tr_err(TR_EINVAL, "reward '%s': unbalanced %c at position %zu", name, q,
                              vb - 1);
            ve = j++;
            while (is_ws((unsigned char)spec[j])) j++;
        } else {
            vb = j;
            while (spec[j] && spec[j] != ',' && spec[j] != ')' && spec[j] != '(') j++;
            ve = j;
            while (ve > vb && is_ws((unsigned char)spec[ve - 1])) ve--;
        }
        if (*nkv >= REWARD_MAX_OPTS)
            return tr_err(TR_EINVAL, "reward '%s': more than %d options", name, REWARD_MAX_OPTS);
        size_t kl = ke - kb, vl = ve - vb;
        char *p = malloc(kl + vl + 2);
        if (!p) return tr_err(TR_ENOMEM, "out of memory");
        memcpy(p, spec + kb, kl);
        p[kl] = '=';
        memcpy(p + kl + 1, spec + vb, vl);
        p[kl + 1 + vl] = '\0';
        kv[(*nkv)++] = p;
        if (spec[j] == ',') {
            j++;
            continue;
        }
        if (spec[j] == ')') break;
        if (!spec[j]) return tr_err(TR_EINVAL, "reward '%s': missing ')'", name);
        return tr_err(TR_EINVAL, "reward '%s': unexpected '%c' at position %zu in options", name,
                      spec[j], j);
    }
    *i = j + 1;
    return TR_OK;
}

int reward_set_parse(RewardSet *s, const char *spec) {
    TR_ASSERT(s);
    if (!spec) spec = "";
    int n0 = s->n, rc = TR_OK, items = 0;
    size_t i = 0;
    char *kv[REWARD_MAX_OPTS];
    int nkv = 0;
    for (;;) {
        while (is_ws((unsigned char)spec[i])) i++;
        if (!spec[i]) {
            if (items == 0) rc = tr_err(TR_EINVAL, "empty reward spec");
            else rc = tr_err(TR_EINVAL, "empty item at the end (a trailing ',')");
            break;
        }
        size_t nb = i;
        while (is_alnum((unsigned char)spec[i]) || spec[i] == '-') i++;
        if (i == nb) {
            rc = tr_err(TR_EINVAL, spec[i] == ',' ? "empty item at position %zu"
                                                  : "expected a reward function name at position %zu",
                        nb);
            break;
        }
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(i - nb < 63 ? i - nb : 63), spec + nb);
        if (!reward_find(name)) {
            rc = unknown_name(name);
            break;
        }
        double w = 1.0;
        int have_w = 0, have_o = 0;
        for (;;) {
            while (is_ws((unsigned char)spec[i])) i++;
            if (spec[i] == '(' && !have_o) {
                have_o = 1;
                if ((rc = parse_opts(spec, &i, kv, &nkv, name))) break;
            } else if (spec[i] == ':' && !have_w) {
                have_w = 1;
                size_t wb = ++i;
                while (spec[i] && spec[i] != ',' && spec[i] != '(') i++;
                size_t we = i;
                while (wb < we && is_ws((unsigned char)spec[wb])) wb++;
                while (we > wb && is_ws((unsigned char)spec[we - 1])) we--;
                char buf[64], *end;
                snprintf(buf, sizeof buf, "%.*s", (int)(we - wb < 63 ? we - wb : 63), spec + wb);
                w = strtod(buf, &end);
                if (we == wb || *end || we - wb > 63 || !isfinite(w)) {
                    rc = tr_err(TR_EINVAL, "reward '%s': weight '%s' is not a finite number",
                                name, buf);
                    break;
                }
            } else {
                break;
            }
        }
        if (rc) break;
        if (spec[i] && spec[i] != ',') {
            rc = tr_err(TR_EINVAL, "reward '%s': unexpected '%c' at position %zu", name, spec[i],
                        i);
            break;
        }
        rc = reward_set_add(s, name, w, (const char *const *)kv, nkv);
        if (rc) break;
        for (int k = 0; k < nkv; k++) free(kv[k]);
        nkv = 0;
        items++;
        if (!spec[i]) break;
        i++; /* ',' */
    }
    for (int k = 0; k < nkv; k++) free(kv[k]);
    if (rc) {
        for (int k = n0; k < s->n; k++) term_clear(&s->term[k]);
        s->n = n0;
        return tr_err_ctx(rc, "reward spec '%s'", spec);
    }
    return TR_OK;
}

void reward_set_print(const RewardSet *s, FILE *f) {
    for (int i = 0; i < s->n; i++) {
        const RewardTerm *t = &s->term[i];
        fprintf(f, "%s%s", i ? "," : "", t->def->name);
        int first = 1;
        for (int k = 0; k < t->n_opts; k++) {
            const char *def = t->def->params[k].def ? t->def->params[k].def : "";
            if (strcmp(t->val[k], def) == 0) continue;
            const char *v = t->val[k];
            /* quoted only when it must be: the syntax has no escapes, so a value
             * holding both quote characters (read unquoted) is printed as is */
            int quote = strpbrk(v, ",()") || !v[0] || v[0] == '\'' || v[0] == '"' ||
                        is_ws((unsigned char)v[0]) || is_ws((unsigned char)v[strlen(v) - 1]);
            char q = strchr(v, '\'') ? '"' : '\'';
            fprintf(f, "%s%s=", first ? "(" : ",", t->key[k]);
            if (quote) fprintf(f, "%c%s%c", q, v, q);
            else fputs(v, f);
            first = 0;
        }
        if (!first) fputc(')', f);
        char w[32];
        snprintf(w, sizeof w, "%.15g", t->weight);
        if (strtod(w, NULL) != t->weight) snprintf(w, sizeof w, "%.17g", t->weight);
        fprintf(f, ":%s", w);
    }
}

/* ----------------------------------------------------------- scoring -- */

static int check_value(const RewardTerm *t, double v) {
    if (!isfinite(v)) return tr_err(TR_EINVAL, "reward '%s' returned %g", t->def->name, v);
    return TR_OK;
}

int reward_score(RewardSet *s, const RewardCtx *c, double *total, double *values, float *tok) {
    return reward_score_batch(s, c, 1, total, values, tok ? &tok : NULL);
}

int reward_score_batch(RewardSet *s, const RewardCtx *c, int n, double *total, double *values,
                       float **tok) {
    TR_ASSERT(s && (n == 0 || c) && total);
    int rc = TR_OK;
    double *col = NULL;
    float *scratch = NULL;
    int max_tok = 0;
    if (n <= 0) return TR_OK;
    for (int i = 0; i < n; i++) {
        total[i] = 0;
        if (tok && tok[i] && c[i].n_tokens > 0) {
            memset(tok[i], 0, (size_t)c[i].n_tokens * sizeof(float));
            if (c[i].n_tokens > max_tok) max_tok = c[i].n_tokens;
        }
    }
    col = malloc((size_t)n * sizeof *col);
    if (max_tok > 0) scratch = malloc((size_t)max_tok * sizeof *scratch);
    if (!col || (max_tok > 0 && !scratch)) {
        rc = tr_err(TR_ENOMEM, "out of memory");
        goto done;
    }
    for (int j = 0; j < s->n; j++) {
        RewardTerm *t = &s->term[j];
        if (t->def->score_batch) {
            rc = t->def->score_batch(t, c, n, col);
            if (rc) {
                tr_err_ctx(rc, "reward '%s'", t->def->name);
                goto done;
            }
            for (int i = 0; i < n; i++)
                if ((rc = check_value(t, col[i]))) goto done;
        } else {
            for (int i = 0; i < n; i++) {
                float *tk = (tok && tok[i] && c[i].n_tokens > 0) ? scratch : NULL;
                if (tk) memset(tk, 0, (size_t)c[i].n_tokens * sizeof(float));
                col[i] = 0;
                rc = t->def->score(t, &c[i], &col[i], tk);
                if (rc) {
                    if (n > 1) tr_err_ctx(rc, "response %d of %d", i + 1, n);
                    tr_err_ctx(rc, "reward '%s'", t->def->name);
                    goto done;
                }
                if ((rc = check_value(t, col[i]))) goto done;
                if (tk)
                    for (int k = 0; k < c[i].n_tokens; k++)
                        tok[i][k] += (float)(t->weight * (double)tk[k]);
            }
        }
        for (int i = 0; i < n; i++) {
            total[i] += t->weight * col[i];
            if (values) values[(size_t)i * (size_t)s->n + (size_t)j] = col[i];
            /* the trainers hold rewards as floats */
            if (!(fabs(total[i]) <= FLT_MAX)) {
                rc = tr_err(TR_EINVAL, "reward '%s' (weight %g) gave %g%s: the weighted sum %g is beyond the float "
                                       "range (3.4e38) the trainers use",
                            t->def->name, t->weight, col[i], n > 1 ? " for a response" : "", total[i]);
                goto done;
            }
        }
    }
done:
    free(col);
    free(scratch);
    return rc;
}
