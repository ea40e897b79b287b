/* `thinkrl data gen TASK ...`: writes a built-in task's records as JSONL;
 * `thinkrl data check FILE`: validates a JSONL file and counts what it
 * holds; `thinkrl data tasks`: lists the tasks and their options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "thinkrl/data.h"
#include "thinkrl/task.h"

static void data_usage(FILE *f) {
    fprintf(f,
            "usage: thinkrl data gen TASK --n N --out FILE [--seed S] [--first I] [--no-traces] [key=value ...]\n"
            "       thinkrl data check FILE [--skip-bad]\n"
            "       thinkrl data tasks\n"
            "gen: writes records FIRST..FIRST+N-1 of a built-in task as JSONL: id, prompt,\n"
            "     answer, completion (a reasoning trace <think>..</think><answer>..</answer>\n"
            "     for SFT) and meta (task, pattern, task fields). Record i depends only on\n"
            "     (seed, i) and the options, so two ranges of one seed never overlap.\n"
            "  --n N          records to write (required)\n"
            "  --out FILE     output file, written atomically; - for stdout (required)\n"
            "  --seed S       generator seed (default 1)\n"
            "  --first I      index of the first record (default 0)\n"
            "  --no-traces    leave out the completion field\n"
            "  key=value      task options (see thinkrl data tasks)\n"
            "check: reads every line, reports each bad one as FILE:LINE: field: problem, and\n"
            "     prints counts; exit status 1 if any line is bad (0 with --skip-bad).\n"
            "tasks: the built-in tasks, their options with defaults and pattern rules.\n");
}

static int data_tasks(void) {
    for (int i = 0; i < task_count(); i++) {
        const TaskDef *t = task_at(i);
        printf("%s: %s\n", t->name, t->help);
        for (int j = 0; j < t->n_params; j++)
            printf("  %-12s (default %s) %s\n", t->params[j].key, t->params[j].def, t->params[j].help);
        printf("  patterns:");
        for (int j = 0; j < t->n_patterns; j++) printf(" %s=%s%s", t->pattern_names[j], t->pattern_regex[j], j + 1 < t->n_patterns ? ";" : "");
        printf("\n");
    }
    return 0;
}

static int data_gen(int argc, char **argv) {
    if (argc < 2) return cli_fail("data gen", "name a task (thinkrl data tasks lists them)");
    const TaskDef *t = task_find(argv[1]);
    if (!t) return cli_fail("data gen", "unknown task '%s' (thinkrl data tasks lists them)", argv[1]);
    long long n = -1, seed = 1, first = 0;
    const char *out = NULL;
    int traces = 1, nkv = 0;
    char **kv = calloc((size_t)argc, sizeof *kv);
    if (!kv) return cli_fail("data gen", "out of memory");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--n") && more) {
            if (cli_int(argv[++i], &n) || n < 1) { free(kv); return cli_fail("data gen", "--n: expected a positive integer, got '%s'", argv[i]); }
        } else if (!strcmp(a, "--seed") && more) {
            if (cli_seed(argv[++i], &seed)) { free(kv); return cli_fail("data gen", "--seed: expected an integer in [-2^63, 2^64), got '%s'", argv[i]); }
        } else if (!strcmp(a, "--first") && more) {
            if (cli_int(argv[++i], &first) || first < 0) { free(kv); return cli_fail("data gen", "--first: expected an integer >= 0, got '%s'", argv[i]); }
        } else if (!strcmp(a, "--out") && more) {
            out = argv[++i];
        } else if (!strcmp(a, "--no-traces")) {
            traces = 0;
        } else if (a[0] != '-' && strchr(a, '=')) {
            kv[nkv++] = argv[i];
        } else {
            free(kv);
            return cli_fail("data gen", "unknown or incomplete flag '%s' (see thinkrl data --help)", a);
        }
    }
    if (n < 1 || !out) {
        free(kv);
        return cli_fail("data gen", "--n and --out are required");
    }
    TaskOpts o;
    if (task_opts_init(&o, t, kv, nkv)) {
        free(kv);
        return cli_fail("data gen", "%s", tr_errmsg());
    }
    free(kv);
    int rc;
    if (!strcmp(out, "-")) {
        rc = task_generate(t, &o, (uint64_t)seed, first, n, traces, stdout);
        task_opts_free(&o);
        return rc ? cli_fail("data gen", "%s", tr_errmsg()) : 0;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) {
        task_opts_free(&o);
        return cli_fail("data gen", "out of memory");
    }
    rc = task_generate(t, &o, (uint64_t)seed, first, n, traces, mem);
    fclose(mem);
    task_opts_free(&o);
    if (!rc) rc = tr_write_file_atomic(out, buf, len);
    free(buf);
    if (rc) return cli_fail("data gen", "%s", tr_errmsg());
    fprintf(stderr, "data gen: %lld %s records (seed %lld, first %lld) -> %s\n", n, t->name, seed, first, out);
    return 0;
}

static int data_check(int argc, char **argv) {
    const char *path = NULL;
    int skip = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--skip-bad")) skip = 1;
        else if (!path && argv[i][0] != '-') path = argv[i];
        else return cli_fail("data check", "unexpected argument '%s'", argv[i]);
    }
    if (!path) return cli_fail("data check", "name a JSONL file");
    DataReader *r;
    if (data_open(&r, path)) return cli_fail("data check", "%s", tr_errmsg());
    long long good = 0, bad = 0, prompts = 0, msgs = 0, compl = 0, answers = 0, images = 0;
    Record rec;
    int rc;
    while ((rc = data_next(r, &rec)) != 0) {
        if (rc < 0) {
            bad++;
            if (bad <= 20) fprintf(stderr, "%s\n", tr_errmsg());
            continue;
        }
        good++;
        prompts += rec.prompt != NULL;
        msgs += rec.messages != NULL;
        compl += rec.completion != NULL;
        answers += rec.answer != NULL;
        images += rec.n_images;
        record_free(&rec);
    }
    const char *first;
    int64_t fl;
    int nu = data_unknown_keys(r, &first, &fl);
    if (nu > 0) fprintf(stderr, "note: %d unknown top-level key(s) ignored, first '%s' on line %lld\n", nu, first, (long long)fl);
    data_close(r);
    printf("%s: %lld records (%lld prompt, %lld messages, %lld with completion, %lld with answer, %lld images), %lld bad lines\n",
           path, good, prompts, msgs, compl, answers, images, bad);
    return bad && !skip ? 1 : 0;
}

int cmd_data(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        data_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "gen")) return data_gen(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check")) return data_check(argc - 1, argv + 1);
    if (!strcmp(argv[1], "tasks")) return data_tasks();
    return cli_fail("data", "unknown subcommand '%s' (gen, check, tasks)", argv[1]);
}
