/* `thinkrl eval`: samples K responses per record of a dataset and reports
 * accuracy (mean pass@1), unbiased pass@k, maj@k, format rate, lengths and
 * per reasoning pattern its share and accuracy, as a table or JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "thinkrl/eval.h"

static void eval_usage(FILE *f) {
    fprintf(f,
            "usage: thinkrl eval --model DIR --data FILE [--n K] [flags]\n"
            "  --model DIR          model directory with its tokenizer (required)\n"
            "  --data FILE          JSONL records with answers (required); the verifier and\n"
            "                       pattern rules come from each record's meta.task\n"
            "  --n K                samples per prompt, 1..64 (default 4)\n"
            "  --max-new-tokens M   most tokens per response (default 128, or the context if shorter)\n"
            "  --temperature T      sampling temperature, 0 = greedy (default 1)\n"
            "  --top-p P            nucleus sampling (default 1 = off)\n"
            "  --top-k K            top-k sampling (default 0 = off)\n"
            "  --seed S             sampling seed (default 1)\n"
            "  --limit N            evaluate the first N records only (default all)\n"
            "  --task NAME          verifier for records without meta.task (default arith)\n"
            "  --patterns SPEC      pattern rules \"name=regex;name=regex\" (default: the task's)\n"
            "  --samples FILE       write every response with its verdict as JSONL\n"
            "  --skip-bad           skip malformed JSONL lines (counted) instead of failing\n"
            "  --tokenizer PATH     tokenizer (default: the model directory's)\n"
            "  --threads N          threads (default: all cores)\n"
            "  --json               one JSON object instead of the table\n"
            "  --json-out FILE      also write the JSON object to FILE (atomically)\n"
            "  --help               this text\n");
}

int cmd_eval(int argc, char **argv) {
    int max_new_set = 0;
    const char *model_dir = NULL, *data = NULL, *tok_path = NULL, *samples = NULL, *json_out = NULL;
    EvalConfig ec;
    eval_config_init(&ec);
    long long limit = 0;
    int json = 0, skip = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        long long iv;
        double fv;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            eval_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--model") && more) model_dir = argv[++i];
        else if (!strcmp(a, "--data") && more) data = argv[++i];
        else if (!strcmp(a, "--tokenizer") && more) tok_path = argv[++i];
        else if (!strcmp(a, "--samples") && more) samples = argv[++i];
        else if (!strcmp(a, "--json-out") && more) json_out = argv[++i];
        else if (!strcmp(a, "--task") && more) ec.task = argv[++i];
        else if (!strcmp(a, "--patterns") && more) ec.patterns = argv[++i];
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--skip-bad")) skip = 1;
        else if (!strcmp(a, "--n") && more) {
            if (cli_int(argv[++i], &iv) || iv < 1 || iv > 64) return cli_fail("eval", "--n: expected 1..64, got '%s'", argv[i]);
            ec.n = (int)iv;
        } else if (!strcmp(a, "--max-new-tokens") && more) {
            if (cli_int(argv[++i], &iv) || iv < 1 || iv > 1 << 20) return cli_fail("eval", "--max-new-tokens: expected a positive integer, got '%s'", argv[i]);
            ec.max_new_tokens = (int)iv;
            max_new_set = 1;
        } else if (!strcmp(a, "--limit") && more) {
            if (cli_int(argv[++i], &limit) || limit < 1) return cli_fail("eval", "--limit: expected a positive integer, got '%s'", argv[i]);
        } else if (!strcmp(a, "--seed") && more) {
            if (cli_seed(argv[++i], &iv)) return cli_fail("eval", "--seed: expected an integer in [-2^63, 2^64), got '%s'", argv[i]);
            ec.seed = (uint64_t)iv;
        } else if (!strcmp(a, "--top-k") && more) {
            if (cli_int(argv[++i], &iv) || iv < 0) return cli_fail("eval", "--top-k: expected an integer >= 0, got '%s'", argv[i]);
            ec.sampler.top_k = (int)iv;
        } else if (!strcmp(a, "--threads") && more) {
            if (cli_int(argv[++i], &iv) || iv < 1 || iv > 4096) return cli_fail("eval", "--threads: expected an integer in [1, 4096], got '%s'", argv[i]);
            tr_set_threads((int)iv);
        } else if (!strcmp(a, "--temperature") && more) {
            if (cli_float(argv[++i], &fv)) return cli_fail("eval", "--temperature: expected a number, got '%s'", argv[i]);
            ec.sampler.temperature = (float)fv;
        } else if (!strcmp(a, "--top-p") && more) {
            if (cli_float(argv[++i], &fv)) return cli_fail("eval", "--top-p: expected a number, got '%s'", argv[i]);
            ec.sampler.top_p = (float)fv;
        } else {
            return cli_fail("eval", "unknown or incomplete flag '%s' (see thinkrl eval --help)", a);
        }
    }
    if (!model_dir || !data) return cli_fail("eval", "--model and --data are required");
    if (sampler_check(&ec.sampler)) return cli_fail("eval", "%s", tr_errmsg());
    if (ec.task && !task_find(ec.task)) return cli_fail("eval", "--task: unknown task '%s'", ec.task);
    if (samples) ec.samples_out = ec.n;

    Model m;
    Tokenizer tok;
    Dataset d;
    EvalResult r;
    int rc = 1;
    /* the data first: a bad line should not wait for a large model to load */
    if (dataset_load(&d, data, skip, stderr)) return cli_fail("eval", "%s", tr_errmsg());
    if (model_load(&m, model_dir)) {
        cli_fail("eval", "%s", tr_errmsg());
        dataset_free(&d);
        return 1;
    }
    if (ec.max_new_tokens > m.cfg.max_pos) {
        if (max_new_set) {
            cli_fail("eval", "--max-new-tokens %d exceeds the model's context of %d tokens", ec.max_new_tokens,
                     m.cfg.max_pos);
            model_free(&m);
            dataset_free(&d);
            return 1;
        }
        ec.max_new_tokens = m.cfg.max_pos; /* the default: responses end with the context */
    }
    if (tok_load(&tok, tok_path ? tok_path : model_dir)) {
        cli_fail("eval", "%s", tr_errmsg());
        model_free(&m);
        dataset_free(&d);
        return 1;
    }
    Dataset view = d;
    if (limit > 0 && view.n > limit) view.n = limit;
    if (eval_run(&m, &tok, &view, &ec, &r)) {
        cli_fail("eval", "%s", tr_errmsg());
        goto out_data;
    }
    if (samples) {
        FILE *sf = fopen(samples, "w");
        if (!sf) {
            cli_fail("eval", "%s: cannot open for writing", samples);
            goto out_res;
        }
        for (int64_t p = 0; p < view.n; p++)
            for (int s = 0; s < ec.n; s++) {
                size_t i = (size_t)p * ec.n + s;
                const EvalVerdict *v = &r.v[i];
                fprintf(sf, "{\"id\":");
                cli_json_string(sf, view.rec[p].id, strlen(view.rec[p].id));
                fprintf(sf, ",\"sample\":%d,\"correct\":%d,\"format_ok\":%d,\"pattern\":\"%s\",\"len\":%d,\"response\":", s,
                        v->correct, v->format_ok, pattern_name(&r.ps, v->pattern), v->len);
                const char *t = r.text[i] ? r.text[i] : "";
                cli_json_string(sf, t, strlen(t));
                fprintf(sf, "}\n");
            }
        int bad = ferror(sf);
        if (fclose(sf) != 0 || bad) {
            cli_fail("eval", "%s: write error", samples);
            goto out_res;
        }
    }
    if (json_out) {
        char *buf = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);
        if (mem) {
            eval_print_json(&r.sum, &r.ps, mem);
            fclose(mem);
        }
        int bad = !mem ? tr_err(TR_ENOMEM, "%s: out of memory", json_out) : tr_write_file_atomic(json_out, buf, len);
        free(buf);
        if (bad) {
            cli_fail("eval", "%s", tr_errmsg());
            goto out_res;
        }
    }
    if (json) eval_print_json(&r.sum, &r.ps, stdout);
    else eval_print_table(&r.sum, &r.ps, stdout);
    fprintf(stderr, "eval: %lld prompts x %d samples in %.1fs (%.0f tok/s)\n", (long long)view.n, ec.n, r.seconds,
            r.tok_per_s);
    rc = 0;
out_res:
    eval_result_free(&r);
out_data:
    tok_free(&tok);
    model_free(&m);
    dataset_free(&d);
    return rc;
}
