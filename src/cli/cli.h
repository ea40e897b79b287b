/* The thinkrl command line: one file per command, each a cmd_NAME(argc, argv)
 * that returns the process exit status, plus small shared flag helpers. */
#ifndef THINKRL_CLI_H
#define THINKRL_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "thinkrl/conf.h"

int cmd_init(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_sft(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_rl(int argc, char **argv);

/* Prints "thinkrl <cmd>: <message>" to stderr and returns 1 (exit status). */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses a decimal integer / float flag value; returns 0 on success. */
int cli_int(const char *s, long long *out);
/* A 64-bit seed: an integer in [-2^63, 2^64); 2^63 and above are stored as
 * the negative number with the same bits. */
int cli_seed(const char *s, long long *out);
int cli_float(const char *s, double *out);
/* The body of a config-driven command (sft, rl): parses --config FILE,
 * --out RUN_DIR, --resume RUN_DIR (the run's own config.yaml), key=value
 * overrides and --print-config into cfg (schema's struct), then calls run.
 * Returns the exit status; frees cfg. */
typedef int (*CliRunFn)(const void *cfg, const char *run_dir, int resume, FILE *log);
int cli_config_command(const char *name, int argc, char **argv, const ConfSchema *schema, void *cfg,
                       void (*usage)(FILE *), CliRunFn run);
/* Writes s[0..n) (UTF-8, may hold NUL) as a quoted JSON string. */
void cli_json_string(FILE *f, const char *s, size_t n);

#endif
