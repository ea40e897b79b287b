/* Checkpoint save / load for run directories: temp directory + rename +
 * atomic `latest`, FNV-1a checksums of every file in state.json, pruning of
 * old checkpoints. What goes into the caller's state object is the
 * caller's business. */
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "thinkrl/ckpt.h"

#define CKPT_FORMAT 1
static const char *const TOK_FILES[] = {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"};

int ckpt_mkdirs(const char *dir) {
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) return tr_err(TR_EINVAL, "bad directory name '%s'", dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return tr_err(TR_EIO, "%s: cannot create directory: %s", buf, strerror(errno));
        buf[i] = c;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) return tr_err(TR_EIO, "%s: not a directory", dir);
    return TR_OK;
}

int ckpt_copy_file(const char *src, const char *dst) {
    size_t len;
    char *data = tr_read_file(src, &len);
    if (!data) return TR_EIO;
    int rc = tr_write_file_atomic(dst, data, len);
    free(data);
    return rc;
}

static void fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* FNV-1a 64 of a file; 0 on success. */
static int file_hash(const char *path, uint64_t *h) {
    FILE *f = fopen(path, "rb");
    if (!f) return tr_err(TR_EIO, "%s: cannot open: %s", path, strerror(errno));
    uint64_t x = 1469598103934665603ULL;
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < n; i++) x = (x ^ buf[i]) * 1099511628211ULL;
    int bad = ferror(f);
    fclose(f);
    if (bad) return tr_err(TR_EIO, "%s: read error", path);
    *h = x;
    return TR_OK;
}

static int remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? TR_OK : tr_err(TR_EIO, "%s: %s", dir, strerror(errno));
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    return rmdir(dir) == 0 ? TR_OK : tr_err(TR_EIO, "%s: cannot remove: %s", dir, strerror(errno));
}

cJSON *ckpt_rng_json(const Rng *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "s");
    for (int i = 0; i < 4; i++) {
        char h[20];
        snprintf(h, sizeof h, "%016" PRIx64, r->s[i]);
        cJSON_AddItemToArray(a, cJSON_CreateString(h));
    }
    return o;
}

int ckpt_state_count(const cJSON *j, const char *key, int64_t lo, int64_t hi, const char *what, int64_t *v) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(x)) return tr_err(TR_EFORMAT, "%s: missing or not a number", what);
    const double d = x->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d))
        return tr_err(TR_EFORMAT, "%s: %.17g is not an integer in [%lld, %lld]", what, d, (long long)lo, (long long)hi);
    *v = (int64_t)d;
    return TR_OK;
}

int ckpt_rng_from_json(const cJSON *j, Rng *r) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "s");
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 4) return tr_err(TR_EFORMAT, "rng: expected \"s\": [4 hex words]");
    for (int i = 0; i < 4; i++) {
        const cJSON *w = cJSON_GetArrayItem(a, i);
        char *end;
        if (!cJSON_IsString(w) || strlen(w->valuestring) != 16) return tr_err(TR_EFORMAT, "rng: s[%d] is not a 16-digit hex word", i);
        r->s[i] = strtoull(w->valuestring, &end, 16);
        if (*end) return tr_err(TR_EFORMAT, "rng: s[%d] is not a 16-digit hex word", i);
    }
    return TR_OK;
}

static int step_of(const char *name, int64_t *step) {
    if (strncmp(name, "step-", 5) != 0) return 0;
    char *end;
    long long s = strtoll(name + 5, &end, 10);
    if (*end || end == name + 5 || s < 0) return 0;
    *step = s;
    return 1;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void prune(const char *ck, int keep_last, int64_t newest) {
    if (keep_last <= 0) return;
    DIR *d = opendir(ck);
    if (!d) return;
    int64_t steps[4096];
    int n = 0;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d)) && n < 4096) {
        int64_t s;
        if (step_of(e->d_name, &s)) steps[n++] = s;
        else if (!strncmp(e->d_name, ".tmp-step-", 10)) { /* leftovers of a crash */
            snprintf(p, sizeof p, "%s/%s", ck, e->d_name);
            remove_tree(p);
        }
    }
    closedir(d);
    qsort(steps, (size_t)n, sizeof steps[0], cmp_i64);
    for (int i = 0; i < n - keep_last; i++) {
        if (steps[i] == newest) continue;
        snprintf(p, sizeof p, "%s/step-%08lld", ck, (long long)steps[i]);
        remove_tree(p);
    }
}

int ckpt_save(const char *run_dir, int64_t step, const Model *m, const AdamW *opt, const cJSON *state,
              const char *tok_dir, int keep_last) {
    return ckpt_save_ex(run_dir, step, m, opt, state, tok_dir, keep_last, NULL, NULL);
}

static int nonfinite_err(const Model *m, const char *what, const char *buf, size_t i, float v) {
    for (int k = 0; k < m->n_table; k++) {
        const ParamEntry *e = &m->table[k];
        if (i >= e->off && i < e->off + e->numel)
            return tr_err(TR_EINVAL, "%s: %s holds %g at %s[%zu]", what, buf, (double)v, e->name, i - e->off);
    }
    return tr_err(TR_EINVAL, "%s: %s holds %g at flat index %zu", what, buf, (double)v, i);
}

int ckpt_check_finite(const Model *m, const AdamW *opt, const char *what) {
    size_t i = tr_first_nonfinite(m->params, m->n_params);
    if (i < m->n_params) return nonfinite_err(m, what, "the weights", i, m->params[i]);
    if (!opt) return TR_OK;
    if ((i = tr_first_nonfinite(opt->m, opt->n)) < opt->n) return nonfinite_err(m, what, "AdamW m", i, opt->m[i]);
    if ((i = tr_first_nonfinite(opt->v, opt->n)) < opt->n) return nonfinite_err(m, what, "AdamW v", i, opt->v[i]);
    return TR_OK;
}

int ckpt_save_ex(const char *run_dir, int64_t step, const Model *m, const AdamW *opt, const cJSON *state,
                 const char *tok_dir, int keep_last, CkptExtraFn extra, void *extra_ctx) {
    char ck[4096], tmp[4200], fin[4200], p[4400], src[4400];
    cJSON *st = NULL;
    char *text = NULL;
    int rc;
    snprintf(ck, sizeof ck, "%s/ckpt", run_dir);
    snprintf(p, sizeof p, "checkpoint of step %lld not written (the previous one is intact)", (long long)step);
    if ((rc = ckpt_check_finite(m, opt, p))) return rc;
    if ((rc = ckpt_mkdirs(ck))) return rc;
    snprintf(tmp, sizeof tmp, "%s/.tmp-step-%08lld", ck, (long long)step);
    snprintf(fin, sizeof fin, "%s/step-%08lld", ck, (long long)step);
    remove_tree(tmp);
    if (mkdir(tmp, 0755) != 0) return tr_err(TR_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    if ((rc = model_save(m, tmp, ST_F32))) goto cleanup;
    if (tok_dir) {
        for (size_t i = 0; i < sizeof TOK_FILES / sizeof *TOK_FILES; i++) {
            snprintf(src, sizeof src, "%s/%s", tok_dir, TOK_FILES[i]);
            if (access(src, R_OK) != 0) continue;
            snprintf(p, sizeof p, "%s/%s", tmp, TOK_FILES[i]);
            if ((rc = ckpt_copy_file(src, p))) goto cleanup;
        }
    }
    if (opt) {
        StWrite w[2] = {{"adamw.m", ST_F32, opt->m, 1, {(int64_t)opt->n}},
                        {"adamw.v", ST_F32, opt->v, 1, {(int64_t)opt->n}}};
        snprintf(p, sizeof p, "%s/optim.safetensors", tmp);
        if ((rc = st_write(p, w, 2, NULL, 0))) goto cleanup;
    }
    if (extra && (rc = extra(extra_ctx, tmp))) goto cleanup;
    st = cJSON_CreateObject();
    cJSON_AddNumberToObject(st, "format", CKPT_FORMAT);
    cJSON_AddNumberToObject(st, "step", (double)step);
    if (opt) {
        cJSON *o = cJSON_AddObjectToObject(st, "optim");
        cJSON_AddNumberToObject(o, "t", (double)opt->t);
        cJSON_AddNumberToObject(o, "lr", opt->lr);
        cJSON_AddNumberToObject(o, "beta1", opt->beta1);
        cJSON_AddNumberToObject(o, "beta2", opt->beta2);
        cJSON_AddNumberToObject(o, "eps", opt->eps);
        cJSON_AddNumberToObject(o, "weight_decay", opt->weight_decay);
    }
    cJSON_AddItemToObject(st, "state", state ? cJSON_Duplicate(state, 1) : cJSON_CreateObject());
    cJSON *files = cJSON_AddObjectToObject(st, "files");
    DIR *d = opendir(tmp);
    if (!d) {
        rc = tr_err(TR_EIO, "%s: %s", tmp, strerror(errno));
        goto cleanup;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        uint64_t h;
        snprintf(p, sizeof p, "%s/%s", tmp, e->d_name);
        if ((rc = file_hash(p, &h))) break;
        char hx[20];
        snprintf(hx, sizeof hx, "%016" PRIx64, h);
        cJSON_AddStringToObject(files, e->d_name, hx);
    }
    closedir(d);
    if (rc) goto cleanup;
    text = tr_json_print(st, 1);
    snprintf(p, sizeof p, "%s/state.json", tmp);
    if ((rc = tr_write_file_atomic(p, text, strlen(text)))) goto cleanup;
    fsync_dir(tmp);
    remove_tree(fin); /* a re-save of the same step (resume after a crash past it) */
    if (rename(tmp, fin) != 0) {
        rc = tr_err(TR_EIO, "%s: rename failed: %s", fin, strerror(errno));
        goto cleanup;
    }
    fsync_dir(ck);
    snprintf(p, sizeof p, "%s/latest", ck);
    char name[64];
    int nl = snprintf(name, sizeof name, "step-%08lld\n", (long long)step);
    if ((rc = tr_write_file_atomic(p, name, (size_t)nl))) goto cleanup;
    fsync_dir(ck);
    prune(ck, keep_last, step);
cleanup:
    if (rc) remove_tree(tmp);
    cJSON_Delete(st);
    free(text);
    return rc;
}

int ckpt_latest(const char *run_dir, char *path, size_t cap, int64_t *step) {
    char p[4096];
    snprintf(p, sizeof p, "%s/ckpt/latest", run_dir);
    if (access(p, F_OK) != 0) return 1;
    size_t len;
    char *s = tr_read_file(p, &len);
    if (!s) return TR_EIO;
    while (len && (s[len - 1] == '\n' || s[len - 1] == ' ')) s[--len] = 0;
    int64_t st;
    if (!step_of(s, &st)) {
        int rc = tr_err(TR_EFORMAT, "%s: expected 'step-N', got '%.40s'", p, s);
        free(s);
        return rc;
    }
    snprintf(path, cap, "%s/ckpt/%s", run_dir, s);
    free(s);
    *step = st;
    return TR_OK;
}

int ckpt_load(const char *dir, Model *m, AdamW *opt, cJSON **state, int64_t *step) {
    char p[4400];
    int rc = TR_OK;
    memset(m, 0, sizeof *m);
    if (opt) memset(opt, 0, sizeof *opt);
    if (state) *state = NULL;
    snprintf(p, sizeof p, "%s/state.json", dir);
    size_t len;
    char *text = tr_read_file(p, &len);
    if (!text) return tr_err_ctx(TR_EIO, "checkpoint %s", dir);
    cJSON *st = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(st)) {
        cJSON_Delete(st);
        return tr_err(TR_EFORMAT, "%s: not a JSON object", p);
    }
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(st, "format");
    const cJSON *stp = cJSON_GetObjectItemCaseSensitive(st, "step");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(st, "files");
    if (!cJSON_IsNumber(fmt) || fmt->valueint != CKPT_FORMAT || !cJSON_IsNumber(stp) || !cJSON_IsObject(files)) {
        rc = tr_err(TR_EFORMAT, "%s: needs format %d, step and files", p, CKPT_FORMAT);
        goto cleanup;
    }
    char what[4500];
    int64_t step_v = 0, t_v = 0;
    snprintf(what, sizeof what, "%s: step", p);
    if ((rc = ckpt_state_count(st, "step", 0, CKPT_COUNT_MAX, what, &step_v))) goto cleanup;
    const cJSON *f;
    cJSON_ArrayForEach(f, files) {
        uint64_t h;
        snprintf(p, sizeof p, "%s/%s", dir, f->string);
        if ((rc = file_hash(p, &h))) goto cleanup;
        char hx[20];
        snprintf(hx, sizeof hx, "%016" PRIx64, h);
        if (!cJSON_IsString(f) || strcmp(hx, f->valuestring) != 0) {
            rc = tr_err(TR_EFORMAT, "checkpoint %s: %s does not match its checksum (corrupt or modified)", dir,
                        f->string);
            goto cleanup;
        }
    }
    if ((rc = model_load(m, dir))) goto cleanup;
    if (opt) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(st, "optim");
        if (!cJSON_IsObject(o)) {
            rc = tr_err(TR_EFORMAT, "checkpoint %s has no optimiser state", dir);
            goto cleanup;
        }
#define NUM(k) cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, k))
        if ((rc = adamw_init(opt, m->n_params, (float)NUM("lr"), (float)NUM("beta1"), (float)NUM("beta2"),
                             (float)NUM("eps"), (float)NUM("weight_decay"))))
            goto cleanup;
#undef NUM
        snprintf(what, sizeof what, "%s/state.json: optim.t", dir);
        if ((rc = ckpt_state_count(o, "t", 0, CKPT_COUNT_MAX, what, &t_v))) goto cleanup;
        opt->t = t_v;
        StFile sf;
        snprintf(p, sizeof p, "%s/optim.safetensors", dir);
        if ((rc = st_open(&sf, p))) goto cleanup;
        const StTensor *tm = st_find(&sf, "adamw.m"), *tv = st_find(&sf, "adamw.v");
        if (!tm || !tv || tm->numel != (int64_t)opt->n || tv->numel != (int64_t)opt->n)
            rc = tr_err(TR_EFORMAT, "%s: adamw.m / adamw.v missing or not of %zu values", p, opt->n);
        if (!rc) rc = st_read_f32(&sf, tm, opt->m, opt->n);
        if (!rc) rc = st_read_f32(&sf, tv, opt->v, opt->n);
        st_close(&sf);
        if (rc) goto cleanup;
    }
    *step = step_v;
    if (state) {
        *state = cJSON_DetachItemFromObjectCaseSensitive(st, "state");
        if (!*state) *state = cJSON_CreateObject();
    }
cleanup:
    if (rc) {
        model_free(m);
        if (opt) adamw_free(opt);
    }
    cJSON_Delete(st);
    return rc;
}
