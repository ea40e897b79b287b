/* Run configuration: a table of typed keys ("optim.lr", "data.train") bound
 * to the fields of a plain C struct, filled from defaults, then a YAML file
 * (nested maps flatten to dotted keys), then "a.b=value" overrides from the
 * command line. An unknown key is an error that suggests the closest valid
 * one; the effective configuration is written back as YAML. SFT, RL and the
 * other trainers each declare their own table. */
#ifndef THINKRL_CONF_H
#define THINKRL_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CONF_INT,     /* int64_t field */
    CONF_FLOAT,   /* double field */
    CONF_BOOL,    /* int field: true/false, yes/no, on/off, 1/0 */
    CONF_STR,     /* char* field, owned (NULL allowed when the default is "") */
    CONF_ENUM     /* char* field, owned; must be one of `choices` */
} ConfType;

typedef struct {
    const char *key;      /* dotted: "optim.lr" */
    ConfType type;
    size_t off;           /* offsetof(struct, field) */
    const char *def;      /* default as text, as it would appear in YAML */
    const char *help;     /* one line */
    const char *choices;  /* CONF_ENUM: "a|b|c"; CONF_INT / CONF_FLOAT: optional
                             range "lo..hi" (inclusive, either side may be
                             empty), checked on every assignment */
} ConfField;

typedef struct {
    const ConfField *f;
    int n;
    const char *name;     /* for messages: "sft config" */
} ConfSchema;

/* Sets every field of obj to its default (strings malloc'ed). */
int conf_defaults(const ConfSchema *s, void *obj);
/* Frees the strings of obj (safe on a zeroed or partly filled struct). */
void conf_free(const ConfSchema *s, void *obj);
/* Assigns one key from text. Errors: unknown key (with "did you mean
 * 'optim.lr'?" when a key is within edit distance 3 or shares the last
 * component), a value of the wrong type or out of range ("optim.lr: expected
 * a number, got 'abc'"). */
int conf_set(const ConfSchema *s, void *obj, const char *key, const char *val);
/* "a.b=value" (the first '=' splits). */
int conf_override(const ConfSchema *s, void *obj, const char *kv);
/* Reads a YAML file: a mapping whose nested mappings flatten to dotted keys;
 * scalars only as values (a sequence is an error unless the field is a
 * CONF_STR, which then receives the items joined with ','). Errors name
 * the file and line: "run.yaml:7: optim.lrr: unknown key (did you mean
 * 'optim.lr'?)". */
int conf_load_yaml(const ConfSchema *s, void *obj, const char *path);
/* Same over a YAML text in memory (name used in messages). */
int conf_load_yaml_text(const ConfSchema *s, void *obj, const char *text, size_t len,
                        const char *name);
/* Writes obj as nested YAML (keys in table order, grouped by prefix, with
 * each help as a trailing comment) to f / atomically to path. Strings are
 * quoted when YAML would otherwise read them as another type. Loading the
 * output again gives the same values. */
int conf_write_yaml(const ConfSchema *s, const void *obj, FILE *f);
int conf_save_yaml(const ConfSchema *s, const void *obj, const char *path);
/* Prints "key (type, default): help" lines, for --help. */
void conf_print_help(const ConfSchema *s, FILE *f);
/* Typed access by key (tests, generic code); NULL if the key is unknown. */
const ConfField *conf_field(const ConfSchema *s, const char *key);

#ifdef __cplusplus
}
#endif
#endif
