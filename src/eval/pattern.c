/* Reasoning-pattern classifier (ALGORITHMS 7): ordered (name, PCRE2 regex)
 * rules over a response's <think> text; the first rule that matches names
 * the pattern, none matching is "other". It does not know the tasks' default
 * rules (task.c) nor how the counts are aggregated (eval). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <string.h>

#include "thinkrl/task.h"

/* Model text may hold invalid UTF-8: rules are compiled in UTF mode (so a
 * rule may use non-ASCII literals and \p{..}) with MATCH_INVALID_UTF, which
 * makes invalid sequences unmatchable instead of an error. */
#define PATTERN_COMPILE_OPTS (PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_AUTO_CALLOUT)
/* Runaway rules. PCRE2's match limit bounds the work from ONE start
 * position (the count restarts at every bump-along), so a bad rule over
 * text with many near-limit spots can still run for minutes. Auto callouts
 * (one per pattern item visited) give a deterministic count of the work of
 * the whole search; the callout aborts it past PATTERN_WORK_LIMIT (about
 * 0.3 s). Either limit counts as "no match" for that rule. */
#define PATTERN_MATCH_LIMIT 1000000u
#define PATTERN_DEPTH_LIMIT 100000u
#define PATTERN_WORK_LIMIT 10000000ul

static int work_callout(pcre2_callout_block *cb, void *data) {
    (void)cb;
    unsigned long *left = data;
    if (*left == 0) return PCRE2_ERROR_CALLOUT;
    (*left)--;
    return 0;
}

static char *dup_str(const char *s, size_t n) {
    char *d = tr_alloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void pattern_free(PatternSet *ps) {
    if (!ps) return;
    for (int i = 0; i < PATTERN_MAX; i++) {
        if (ps->code[i]) pcre2_code_free((pcre2_code *)ps->code[i]);
        tr_free(ps->name[i]);
        tr_free(ps->regex[i]);
    }
    if (ps->match) pcre2_match_data_free((pcre2_match_data *)ps->match);
    memset(ps, 0, sizeof *ps);
}

/* Compiles n rules into ps (zeroed first). On failure ps is left zeroed and
 * the message names the rule; one match-data block serves all rules, so a
 * set is used by one thread at a time. */
int pattern_init(PatternSet *ps, const char *const *names, const char *const *regexes, int n) {
    memset(ps, 0, sizeof *ps);
    if (n < 0 || n > PATTERN_MAX)
        return tr_err(TR_EINVAL, "pattern: %d rules (at most %d)", n, PATTERN_MAX);
    if (n > 0 && (!names || !regexes)) return tr_err(TR_EINVAL, "pattern: no rules given");
    for (int i = 0; i < n; i++) {
        if (!names[i] || !names[i][0])
            return tr_err(TR_EINVAL, "pattern: rule %d has an empty name", i + 1);
        if (!regexes[i])
            return tr_err(TR_EINVAL, "pattern: rule '%s' has no regex", names[i]);
        if (strcmp(names[i], "other") == 0)
            return tr_err(TR_EINVAL, "pattern: 'other' is reserved for text no rule matches");
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return tr_err(TR_EINVAL, "pattern: rule name '%s' appears twice", names[i]);
    }

    int rc = TR_OK;
    for (int i = 0; i < n; i++) {
        ps->name[i] = dup_str(names[i], strlen(names[i]));
        ps->regex[i] = dup_str(regexes[i], strlen(regexes[i]));
        if (!ps->name[i] || !ps->regex[i]) {
            rc = tr_err(TR_ENOMEM, "pattern: out of memory");
            goto fail;
        }
        int errcode = 0;
        PCRE2_SIZE erroff = 0;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)regexes[i], PCRE2_ZERO_TERMINATED,
                                       PATTERN_COMPILE_OPTS, &errcode, &erroff, NULL);
        if (!re) {
            PCRE2_UCHAR msg[256];
            if (pcre2_get_error_message(errcode, msg, sizeof msg) < 0)
                snprintf((char *)msg, sizeof msg, "error %d", errcode);
            rc = tr_err(TR_EINVAL, "pattern: rule '%s': regex error at offset %zu: %s", names[i],
                        (size_t)erroff, (const char *)msg);
            goto fail;
        }
        ps->code[i] = re;
        ps->n = i + 1;
    }
    /* only match / no match is needed: one ovector pair */
    ps->match = pcre2_match_data_create(1, NULL);
    if (!ps->match) {
        rc = tr_err(TR_ENOMEM, "pattern: out of memory");
        goto fail;
    }
    ps->n = n;
    return TR_OK;
fail:
    pattern_free(ps);
    return rc;
}

/* Parses "name=regex;name=regex". ";;" inside a regex is a literal ';'.
 * Names are trimmed of whitespace; regexes are taken as written (from after
 * the first '=' of the rule). Blank rules (a trailing ';') are skipped. */
int pattern_init_spec(PatternSet *ps, const char *spec) {
    memset(ps, 0, sizeof *ps);
    if (!spec) return tr_err(TR_EINVAL, "pattern: no spec");
    size_t len = strlen(spec);

    /* one copy holds every name and regex, split in place */
    char *buf = tr_alloc(len + 1);
    if (!buf) return tr_err(TR_ENOMEM, "pattern: out of memory");
    const char *names[PATTERN_MAX + 1], *regexes[PATTERN_MAX + 1];
    int n = 0, rc = TR_OK;
    size_t i = 0, o = 0;
    while (i <= len) {
        /* rule boundaries: a single ';' or the end; ";;" is a literal ';' */
        size_t start = o;
        while (i < len) {
            if (spec[i] == ';') {
                if (i + 1 < len && spec[i + 1] == ';') {
                    buf[o++] = ';';
                    i += 2;
                    continue;
                }
                break;
            }
            buf[o++] = spec[i++];
        }
        buf[o++] = '\0';
        i++; /* past ';' or the end */
        char *rule = buf + start;
        if (!rule[strspn(rule, " \t\n\r")]) continue; /* "a=x;" or "a=x; ;b=y" */
        char *eq = strchr(rule, '=');
        if (!eq) {
            rc = tr_err(TR_EINVAL, "pattern: rule %d '%s': expected name=regex", n + 1, rule);
            goto done;
        }
        *eq = '\0';
        char *nm = rule, *ne = eq;
        while (*nm == ' ' || *nm == '\t' || *nm == '\n' || *nm == '\r') nm++;
        while (ne > nm && (ne[-1] == ' ' || ne[-1] == '\t' || ne[-1] == '\n' || ne[-1] == '\r'))
            *--ne = '\0';
        if (n == PATTERN_MAX) {
            rc = tr_err(TR_EINVAL, "pattern: more than %d rules", PATTERN_MAX);
            goto done;
        }
        names[n] = nm;
        regexes[n] = eq + 1;
        n++;
    }
    if (n == 0)
        rc = tr_err(TR_EINVAL, "pattern: empty spec (expected name=regex;...)");
    else
        rc = pattern_init(ps, names, regexes, n);
done:
    tr_free(buf);
    return rc;
}

int pattern_classify(PatternSet *ps, const char *text, size_t len) {
    if (!ps || !text || ps->n == 0 || !ps->match) return -1;
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    if (!mc) return -1;
    pcre2_set_match_limit(mc, PATTERN_MATCH_LIMIT);
    pcre2_set_depth_limit(mc, PATTERN_DEPTH_LIMIT);
    unsigned long work = 0;
    pcre2_set_callout(mc, work_callout, &work);
    int found = -1;
    for (int i = 0; i < ps->n; i++) {
        /* >= 0: a match; NOMATCH and the limit errors all count as none */
        work = PATTERN_WORK_LIMIT;
        int rc = pcre2_match((const pcre2_code *)ps->code[i], (PCRE2_SPTR)text, len, 0, 0,
                             (pcre2_match_data *)ps->match, mc);
        if (rc >= 0) {
            found = i;
            break;
        }
    }
    pcre2_match_context_free(mc);
    return found;
}

const char *pattern_name(const PatternSet *ps, int i) {
    if (!ps || i < 0 || i >= ps->n) return "other";
    return ps->name[i];
}
