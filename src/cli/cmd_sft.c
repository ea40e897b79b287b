/* `thinkrl sft`: supervised fine-tuning / pretraining from a YAML config
 * with key=value overrides, into a run directory; --resume continues a run
 * from its latest checkpoint with the configuration it saved. */
#include <stdio.h>
#include <string.h>

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

static int sft_run_cb(const void *cfg, const char *run_dir, int resume, FILE *log) {
    return sft_run(cfg, run_dir, resume, log);
}

int cmd_sft(int argc, char **argv) {
    SftConfig c;
    memset(&c, 0, sizeof c);
    return cli_config_command("sft", argc, argv, &SFT_SCHEMA, &c, sft_usage, sft_run_cb);
}
