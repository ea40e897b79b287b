/* Pieces every training loop (SFT, RL) shares: option splitting, the
 * progress line's ETA, metrics.jsonl truncation on resume, the final model
 * directory, the weight-decay mask and metrics numbers. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "thinkrl/ckpt.h"
#include "thinkrl/task.h"
#include "train/run_util.h"

uint64_t run_mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Splits "a=1 b=2" into an argv-like array (owned copy in *store). */
int run_split_opts(const char *s, char **store, char ***kv, int *n) {
    *store = strdup(s ? s : "");
    *kv = calloc(TASK_MAX_PARAMS + 1, sizeof **kv);
    *n = 0;
    if (!*store || !*kv) return tr_err(TR_ENOMEM, "out of memory");
    char *save = NULL;
    for (char *t = strtok_r(*store, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save)) {
        if (*n == TASK_MAX_PARAMS) return tr_err(TR_EINVAL, "data.task_options: too many options");
        (*kv)[(*n)++] = t;
    }
    return TR_OK;
}

void run_fmt_eta(double s, char *buf, size_t cap) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, cap, "?");
    else if (s >= 3600) snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)(fmod(s, 3600) / 60));
    else snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

/* Keeps the metrics lines of steps <= step (a resumed run rewrites the rest). */
int run_metrics_truncate(const char *path, int64_t step) {
    size_t len;
    if (access(path, F_OK) != 0) return TR_OK;
    char *s = tr_read_file(path, &len);
    if (!s) return TR_EIO;
    char *out = malloc(len + 1);
    size_t o = 0;
    if (!out) {
        free(s);
        return tr_err(TR_ENOMEM, "out of memory");
    }
    char *line = s, *end = s + len;
    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t ll = nl ? (size_t)(nl - line) + 1 : (size_t)(end - line);
        cJSON *j = cJSON_ParseWithLength(line, ll);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "step");
        if (cJSON_IsNumber(st) && st->valuedouble <= (double)step && nl) {
            memcpy(out + o, line, ll);
            o += ll;
        }
        cJSON_Delete(j);
        line += ll;
    }
    int rc = tr_write_file_atomic(path, out, o);
    free(out);
    free(s);
    return rc;
}

/* RUN/model: model + tokenizer files, replaced as a whole. */
int run_save_final(const Model *m, const char *run_dir, const char *tok_dir) {
    char tmp[4200], fin[4200], old[4200], src[4400], dst[4400];
    snprintf(tmp, sizeof tmp, "%s/.model.tmp", run_dir);
    snprintf(fin, sizeof fin, "%s/model", run_dir);
    snprintf(old, sizeof old, "%s/.model.old", run_dir);
    int rc = ckpt_check_finite(m, NULL, "the final model not written");
    if (!rc) rc = ckpt_mkdirs(tmp);
    if (!rc) rc = model_save(m, tmp, ST_F32);
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"};
    for (int i = 0; i < 3 && !rc; i++) {
        snprintf(src, sizeof src, "%s/%s", tok_dir, files[i]);
        if (access(src, R_OK) != 0) continue;
        snprintf(dst, sizeof dst, "%s/%s", tmp, files[i]);
        rc = ckpt_copy_file(src, dst);
    }
    if (rc) return rc;
    struct stat sb;
    int had = stat(fin, &sb) == 0;
    if (had && rename(fin, old) != 0) return tr_err(TR_EIO, "%s: cannot move aside", fin);
    if (rename(tmp, fin) != 0) return tr_err(TR_EIO, "%s: cannot rename into place", fin);
    if (had) {
        for (int i = 0; i < 3; i++) {
            snprintf(dst, sizeof dst, "%s/%s", old, files[i]);
            unlink(dst);
        }
        snprintf(dst, sizeof dst, "%s/config.json", old);
        unlink(dst);
        snprintf(dst, sizeof dst, "%s/model.safetensors", old);
        unlink(dst);
        rmdir(old);
    }
    return TR_OK;
}

void run_decay_mask(const Model *m, uint8_t *mask) {
    memset(mask, 0, m->n_params);
    for (int i = 0; i < m->n_table; i++) {
        const ParamEntry *e = &m->table[i];
        if (e->ndim == 2 && !(m->cfg.tie && strstr(e->name, "lm_head"))) memset(mask + e->off, 1, e->numel);
    }
}

void run_add_num(cJSON *o, const char *k, double v) {
    cJSON_AddItemToObject(o, k, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
}

int run_json_line(FILE *f, cJSON *o, const char *file) {
    char *js = tr_json_print(o, 0);
    cJSON_Delete(o);
    if (!js) return tr_err(TR_ENOMEM, "%s: out of memory writing a line", file);
    fprintf(f, "%s\n", js);
    free(js);
    return TR_OK;
}
