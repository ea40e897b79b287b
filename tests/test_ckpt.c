/* Checkpoints: save/load gives back bit-identical weights, optimiser
 * moments, step and caller state; `latest` names the newest; old ones are
 * pruned; a corrupted file is refused by its checksum; leftovers of an
 * interrupted save are ignored and cleaned. tr_write_file_atomic replaces
 * what a symbolic link names (not the link) and writes a FIFO in place. */
#include <cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "thinkrl/ckpt.h"

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Doubles of every size and sign for the state; cJSON's own printer
 * changes about one in nine of these by an ulp. */
static void state_doubles(double *d, int n) {
    Rng g;
    rng_seed(&g, 5);
    for (int i = 0; i < n; i++) {
        double u = rng_uniform_d(&g) - 0.5;
        d[i] = u * pow(10.0, (double)(i % 40) - 20.0);
    }
}
#define N_DOUBLES 3000

static void rm_rf(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", dir);
}

/* ckpt_state_count: integers in range pass exactly, anything else names the field */
static void test_counts(void) {
    cJSON *j = cJSON_Parse("{\"a\":7,\"big\":9007199254740992,\"neg\":-1,\"frac\":2.5,\"huge\":1e300,\"s\":\"3\"}");
    int64_t v = -1;
    CHECK(ckpt_state_count(j, "a", 0, 10, "x.a", &v) == TR_OK && v == 7, "count 7");
    CHECK(ckpt_state_count(j, "big", 0, CKPT_COUNT_MAX, "x.big", &v) == TR_OK && v == CKPT_COUNT_MAX, "count 2^53");
    static const char *const bad[][2] = {{"a", "x.a: 7 is not an integer in [0, 6]"},
                                         {"neg", "x.neg: -1 is not an integer in [0, "},
                                         {"frac", "x.frac: 2.5 is not an integer"},
                                         {"huge", "x.huge: 1.0000000000000001e+300 is not an integer"},
                                         {"s", "x.s: missing or not a number"},
                                         {"none", "x.none: missing or not a number"}};
    for (int i = 0; i < 6; i++) {
        char what[32];
        snprintf(what, sizeof what, "x.%s", bad[i][0]);
        v = 99;
        int rc = ckpt_state_count(j, bad[i][0], 0, i == 0 ? 6 : CKPT_COUNT_MAX, what, &v);
        CHECK(rc == TR_EFORMAT && strstr(tr_errmsg(), bad[i][1]) && v == 99, "count %s: rc %d, %s", bad[i][0], rc,
              tr_errmsg());
    }
    cJSON_Delete(j);
}

/* tr_write_file_atomic through a symbolic link, into a FIFO, onto a directory */
static void test_atomic_write(const char *dir) {
    char target[4200], link[4200], fifo[4200], sub[4200], buf[64];
    snprintf(target, sizeof target, "%s/target.json", dir);
    snprintf(link, sizeof link, "%s/link.json", dir);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    CHECK(tr_write_file_atomic(target, "old", 3) == TR_OK, "write target: %s", tr_errmsg());
    TR_ASSERT(symlink("target.json", link) == 0);
    CHECK(tr_write_file_atomic(link, "new!", 4) == TR_OK, "write through link: %s", tr_errmsg());
    struct stat sb;
    CHECK(lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode), "the link is still a link");
    size_t n = 0;
    char *got = tr_read_file(target, &n);
    CHECK(got && n == 4 && !memcmp(got, "new!", 4), "the linked file holds the new text");
    free(got);
    /* a FIFO: read end held open here (O_RDWR does not block) */
    TR_ASSERT(mkfifo(fifo, 0600) == 0);
    int fd = open(fifo, O_RDWR | O_NONBLOCK);
    TR_ASSERT(fd >= 0);
    CHECK(tr_write_file_atomic(fifo, "piped", 5) == TR_OK, "write into a FIFO: %s", tr_errmsg());
    ssize_t r = read(fd, buf, sizeof buf);
    CHECK(r == 5 && !memcmp(buf, "piped", 5), "the FIFO got the text (read %zd)", r);
    close(fd);
    CHECK(lstat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode), "the FIFO is still a FIFO");
    TR_ASSERT(mkdir(sub, 0700) == 0);
    CHECK(tr_write_file_atomic(sub, "x", 1) == TR_EIO && strstr(tr_errmsg(), "is a directory"), "a directory: %s",
          tr_errmsg());
}

int main(void) {
    test_counts();
    char tmpl[] = "/tmp/thinkrl_ckpt_XXXXXX";
    char *run = mkdtemp(tmpl);
    TR_ASSERT(run);
    {
        char aw[4200];
        snprintf(aw, sizeof aw, "%s/atomic", run);
        TR_ASSERT(mkdir(aw, 0700) == 0);
        test_atomic_write(aw);
    }
    ModelConfig c;
    TR_ASSERT(config_preset(&c, "nano") == TR_OK);
    c.V = 64;
    c.L = 2;
    Model m;
    TR_ASSERT(model_create(&m, &c) == TR_OK);
    model_init_random(&m, 3, 0.02f);
    AdamW opt;
    TR_ASSERT(adamw_init(&opt, m.n_params, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f) == TR_OK);
    Rng r;
    rng_seed(&r, 11);
    for (size_t i = 0; i < opt.n; i++) {
        opt.m[i] = rng_normal(&r);
        opt.v[i] = rng_uniform(&r);
    }
    opt.t = 17;
    Rng saved_rng = r;
    char p[4400], latest[4200];
    int64_t step = -1;
    CHECK(ckpt_latest(run, latest, sizeof latest, &step) == 1, "no checkpoint yet");

    for (int64_t s = 10; s <= 30; s += 10) {
        cJSON *st = cJSON_CreateObject();
        cJSON_AddNumberToObject(st, "cursor", (double)s * 3);
        cJSON_AddItemToObject(st, "rng", ckpt_rng_json(&r));
        double dv[N_DOUBLES];
        state_doubles(dv, N_DOUBLES);
        cJSON_AddItemToObject(st, "doubles", cJSON_CreateDoubleArray(dv, N_DOUBLES));
        cJSON_AddNumberToObject(st, "nan", NAN);
        int rc = ckpt_save(run, s, &m, &opt, st, NULL, 2);
        CHECK(rc == TR_OK, "save step %lld: %s", (long long)s, tr_errmsg());
        cJSON_Delete(st);
    }
    snprintf(p, sizeof p, "%s/ckpt/step-00000010", run);
    CHECK(!exists(p), "step 10 pruned (keep 2)");
    snprintf(p, sizeof p, "%s/ckpt/step-00000020", run);
    CHECK(exists(p), "step 20 kept");
    CHECK(ckpt_latest(run, latest, sizeof latest, &step) == TR_OK && step == 30, "latest is step 30 (%lld)", (long long)step);

    /* load: bit-identical */
    Model m2;
    AdamW o2;
    cJSON *st2 = NULL;
    int64_t s2 = 0;
    int rc = ckpt_load(latest, &m2, &o2, &st2, &s2);
    CHECK(rc == TR_OK, "load: %s", tr_errmsg());
    if (rc == TR_OK) {
        CHECK(s2 == 30, "step %lld", (long long)s2);
        CHECK(m2.n_params == m.n_params && !memcmp(m2.params, m.params, m.n_params * sizeof(float)), "weights identical");
        CHECK(o2.n == opt.n && !memcmp(o2.m, opt.m, opt.n * sizeof(float)) && !memcmp(o2.v, opt.v, opt.n * sizeof(float)),
              "moments identical");
        CHECK(o2.t == 17 && o2.lr == opt.lr && o2.beta2 == opt.beta2 && o2.weight_decay == opt.weight_decay, "adamw settings");
        Rng back;
        CHECK(ckpt_rng_from_json(cJSON_GetObjectItem(st2, "rng"), &back) == TR_OK && !memcmp(&back, &saved_rng, sizeof back),
              "rng state identical");
        CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(st2, "cursor")) == 90, "caller state");
        double dv[N_DOUBLES];
        state_doubles(dv, N_DOUBLES);
        const cJSON *da = cJSON_GetObjectItem(st2, "doubles");
        int exact = cJSON_GetArraySize(da) == N_DOUBLES;
        for (int i = 0; exact && i < N_DOUBLES; i++) exact = cJSON_GetArrayItem(da, i)->valuedouble == dv[i];
        CHECK(exact, "%d state doubles read back bit for bit", N_DOUBLES);
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(st2, "nan")), "NaN in the state is written as null");
        cJSON_Delete(st2);
        model_free(&m2);
        adamw_free(&o2);
    }

    /* an interrupted save leaves a .tmp directory: latest still loads, and
     * the next save cleans it */
    snprintf(p, sizeof p, "%s/ckpt/.tmp-step-00000040", run);
    CHECK(ckpt_mkdirs(p) == TR_OK, "make leftover");
    CHECK(ckpt_latest(run, latest, sizeof latest, &step) == TR_OK && step == 30, "latest unaffected by a partial save");
    CHECK(ckpt_save(run, 40, &m, NULL, NULL, NULL, 2) == TR_OK, "save 40: %s", tr_errmsg());
    CHECK(ckpt_latest(run, latest, sizeof latest, &step) == TR_OK && step == 40, "latest 40");

    /* a NaN or an Inf in the weights or a moment: nothing is written, the
     * message names the tensor, latest stays at 40 */
    const ParamEntry *pe = model_find(&m, "model.layers.1.mlp.up_proj.weight");
    TR_ASSERT(pe);
    float keep = m.params[pe->off + 5];
    m.params[pe->off + 5] = NAN;
    int rc50 = ckpt_save(run, 50, &m, &opt, NULL, NULL, 2);
    CHECK(rc50 != TR_OK && strstr(tr_errmsg(), "model.layers.1.mlp.up_proj.weight[5]") && strstr(tr_errmsg(), "weights"),
          "NaN weight refused: %s", tr_errmsg());
    m.params[pe->off + 5] = keep;
    float vkeep = opt.v[7];
    opt.v[7] = INFINITY;
    rc50 = ckpt_save(run, 50, &m, &opt, NULL, NULL, 2);
    CHECK(rc50 != TR_OK && strstr(tr_errmsg(), "AdamW v") && strstr(tr_errmsg(), "model.embed_tokens.weight[7]"),
          "Inf moment refused: %s", tr_errmsg());
    opt.v[7] = vkeep;
    snprintf(p, sizeof p, "%s/ckpt/step-00000050", run);
    CHECK(!exists(p), "no step-50 directory");
    snprintf(p, sizeof p, "%s/ckpt/.tmp-step-00000050", run);
    CHECK(!exists(p), "no step-50 temporary directory");
    CHECK(ckpt_latest(run, latest, sizeof latest, &step) == TR_OK && step == 40, "latest still 40");
    {
        float x[9000];
        for (int i = 0; i < 9000; i++) x[i] = (float)i;
        CHECK(tr_first_nonfinite(x, 9000) == 9000, "all finite");
        x[8191] = -INFINITY;
        x[8500] = NAN;
        CHECK(tr_first_nonfinite(x, 9000) == 8191, "first non-finite at 8191 (%zu)", tr_first_nonfinite(x, 9000));
        x[8191] = 0;
        CHECK(tr_first_nonfinite(x, 9000) == 8500, "then 8500");
        CHECK(tr_first_nonfinite(x, 8500) == 8500, "n when none in range");
    }

    /* corruption: flip one byte of the weights */
    snprintf(p, sizeof p, "%s/model.safetensors", latest);
    FILE *f = fopen(p, "r+b");
    TR_ASSERT(f);
    fseek(f, -5, SEEK_END);
    int ch = fgetc(f);
    fseek(f, -5, SEEK_END);
    fputc(ch ^ 0x40, f);
    fclose(f);
    rc = ckpt_load(latest, &m2, NULL, NULL, &s2);
    CHECK(rc != TR_OK && strstr(tr_errmsg(), "checksum") && strstr(tr_errmsg(), "model.safetensors"),
          "corrupt file refused: %s", tr_errmsg());
    /* a checkpoint without optimiser state cannot fill one */
    snprintf(p, sizeof p, "%s/ckpt/step-00000030", run);
    rc = ckpt_load(p, &m2, &o2, NULL, &s2);
    CHECK(rc == TR_OK, "step 30 still loads: %s", tr_errmsg());
    if (rc == TR_OK) {
        model_free(&m2);
        adamw_free(&o2);
    }
    /* latest naming garbage */
    snprintf(p, sizeof p, "%s/ckpt/latest", run);
    TR_ASSERT(tr_write_file_atomic(p, "nonsense\n", 9) == TR_OK);
    rc = ckpt_latest(run, latest, sizeof latest, &step);
    CHECK(rc < 0 && strstr(tr_errmsg(), "latest"), "bad latest: %s", tr_errmsg());

    adamw_free(&opt);
    model_free(&m);
    rm_rf(run);
    return tu_summary("test_ckpt");
}
