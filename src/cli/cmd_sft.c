/* `thinkrl sft`: supervised fine-tuning / pretraining from a YAML config
 * with key=value overrides, into a run directory; --resume continues a run
 * from its latest checkpoint with the configuration it saved. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "thinkrl/core.h"
#include "thinkrl/sft.h"

static void sft_usage(FILE *f) {
    fprintf(f,
            "usage: thinkrl sft [--config FILE] --out RUN_DIR [key=value ...]\n"
            "       thinkrl sft --resume RUN_DIR [key=value ...]\n"
            "  --config FILE    YAML configuration (nested maps = dotted keys); optional,\n"
            "                   every key has a default\n"
            "  --out RUN_DIR    run directory: config.yaml, metrics.jsonl, ckpt/, model/\n"
            "  --resume RUN_DIR continue from the run's latest checkpoint with its config.yaml\n"
            "                   (overrides still apply, e.g. train.steps=N to extend)\n"
            "  key=value        override one key, applied after the file\n"
            "  --print-config   print the effective configuration and exit\n"
            "  --help           this text and the keys below\n"
            "keys:\n");
    conf_print_help(&SFT_SCHEMA, f);
}

int cmd_sft(int argc, char **argv) {
    const char *config = NULL, *out = NULL, *resume = NULL;
    int print = 0, rc = 1;
    SftConfig c;
    memset(&c, 0, sizeof c);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            sft_usage(stdout);
            return 0;
        }
    }
    if (conf_defaults(&SFT_SCHEMA, &c)) return cli_fail("sft", "%s", tr_errmsg());
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--config") && more) config = argv[++i];
        else if (!strcmp(a, "--out") && more) out = argv[++i];
        else if (!strcmp(a, "--resume") && more) resume = argv[++i];
        else if (!strcmp(a, "--print-config")) print = 1;
        else if (a[0] == '-' || !strchr(a, '=')) {
            cli_fail("sft", "unknown or incomplete flag '%s' (see thinkrl sft --help)", a);
            goto done;
        }
    }
    if (resume && (config || out)) {
        cli_fail("sft", "--resume takes the run's own config.yaml; leave out --config and --out");
        goto done;
    }
    char path[4200];
    if (resume) {
        snprintf(path, sizeof path, "%s/config.yaml", resume);
        if (access(path, R_OK) != 0) {
            cli_fail("sft", "--resume %s: not a run directory (no config.yaml)", resume);
            goto done;
        }
        config = path;
        out = resume;
    }
    if (config && conf_load_yaml(&SFT_SCHEMA, &c, config)) {
        cli_fail("sft", "%s", tr_errmsg());
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--config") || !strcmp(a, "--out") || !strcmp(a, "--resume")) {
            i++;
            continue;
        }
        if (a[0] != '-' && conf_override(&SFT_SCHEMA, &c, a)) {
            cli_fail("sft", "%s", tr_errmsg());
            goto done;
        }
    }
    if (print) {
        conf_write_yaml(&SFT_SCHEMA, &c, stdout);
        rc = 0;
        goto done;
    }
    if (!out) {
        cli_fail("sft", "--out RUN_DIR is required");
        goto done;
    }
    if (sft_run(&c, out, resume != NULL, stderr)) {
        cli_fail("sft", "%s", tr_errmsg());
        goto done;
    }
    rc = 0;
done:
    conf_free(&SFT_SCHEMA, &c);
    return rc;
}
