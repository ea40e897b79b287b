/* bio: short templated biographies ("Anna is a baker from Lyon. She likes
 * chess.") for distribution matching (f-DPG): every record shares one
 * prompt, the completion is the plain biography (no think/answer tags), and
 * the answer is its gender. The gender share and one rare hobby's share are
 * options, so a target distribution can differ from the data's on purpose. */
#include <ctype.h>
#include <string.h>

#include "data/task_internal.h"

/* One prompt for every record: the f-DPG target is unconditional. Short
 * because the model is byte-level. */
#define BIO_PROMPT "Bio: "

enum { BIO_FEMALE = 0, BIO_MALE = 1 };
static const char *const bio_pattern_names[] = {"female", "male"};
/* Whole-word pronouns decide ("he" inside "She" is not one); a bio uses
 * one gender's pronouns only, so the rule order does not matter for it. */
static const char *const bio_rule_regex[] = {
    "\\b(?:[Ss]he|[Hh]er)\\b",
    "\\b(?:[Hh]e|[Hh]is)\\b",
};

static const TaskParam bio_params[] = {
    {"female", "0.2", "probability of a female biography (0-1)"},
    {"rare", "chess", "a hobby whose share is set by rare_p"},
    {"rare_p", "0.05", "probability of the rare hobby (0-1); the others share the rest"},
};

/* Kept short (names <= 5, cities <= 6 letters) so a bio is 40-70 bytes. */
static const char *const female_names[] = {"Anna", "Maria", "Emma", "Sofia", "Lena",
                                           "Clara", "Julia", "Nora", "Alice", "Eva"};
static const char *const male_names[] = {"Paul", "Hugo", "Leon", "Marco", "David",
                                         "Felix", "Oscar", "Ivan", "Tom", "Luca"};
static const char *const professions[] = {"baker", "teacher", "doctor", "nurse",    "farmer", "painter",
                                          "lawyer", "chef",   "pilot",  "engineer", "artist", "writer"};
static const char *const cities[] = {"Lyon",   "Paris",  "Rome",  "Oslo",   "Berlin",
                                     "Madrid", "Vienna", "Prague", "Lisbon", "Dublin"};
/* Each reads after "likes", "loves" and "hobby is". */
static const char *const hobbies[] = {"chess",    "hiking",  "painting", "cooking", "swimming",
                                      "music",    "gardening", "cycling", "dancing", "poetry"};

#define COUNT(a) ((long)(sizeof a / sizeof a[0]))
#define N_HOBBIES ((int)COUNT(hobbies))

static const char *article(const char *noun) { return strchr("aeiou", noun[0]) ? "an" : "a"; }

/* The bio in one of three sentence templates; the second uses the
 * possessive so both pronoun forms occur in the data. */
static void bio_text(TkBuf *b, int tpl, int female, const char *name, const char *prof,
                     const char *city, const char *hobby) {
    const char *she = female ? "She" : "He", *her = female ? "Her" : "His";
    if (tpl == 0)
        tkbuf_printf(b, "%s is %s %s from %s. %s likes %s.", name, article(prof), prof, city, she, hobby);
    else if (tpl == 1)
        tkbuf_printf(b, "%s works as %s %s in %s. %s hobby is %s.", name, article(prof), prof, city, her,
                     hobby);
    else
        tkbuf_printf(b, "%s lives in %s. %s is %s %s who loves %s.", name, city, she, article(prof), prof,
                     hobby);
}

static int opt_prob(const TaskOpts *o, const char *key, double *p) {
    int rc = task_opt_float(o, key, p);
    if (rc) return rc;
    if (*p < 0 || *p > 1)
        return tr_err(TR_EINVAL, "option '%s': expected a probability in [0, 1], got '%s'", key,
                      task_opt(o, key));
    return TR_OK;
}

/* Index of the rare hobby; an unknown one is an error listing the hobbies. */
static int opt_rare(const TaskOpts *o, int *rare) {
    const char *v = task_opt(o, "rare");
    for (int i = 0; v && i < N_HOBBIES; i++)
        if (strcmp(hobbies[i], v) == 0) {
            *rare = i;
            return TR_OK;
        }
    char list[256];
    size_t n = 0;
    for (int i = 0; i < N_HOBBIES && n < sizeof list; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", hobbies[i]);
    return tr_err(TR_EINVAL, "option 'rare': '%s' is not a hobby (hobbies: %s)", v ? v : "", list);
}

static int bio_gen(const TaskOpts *o, Rng *r, int64_t index, int traces, Record *out) {
    double p_female, rare_p, w[N_HOBBIES];
    int rare = 0, rc;
    if ((rc = opt_prob(o, "female", &p_female)) || (rc = opt_rare(o, &rare)) ||
        (rc = opt_prob(o, "rare_p", &rare_p)))
        return rc;
    /* rare_p = 1 leaves the others at weight 0; tk_draw skips them */
    for (int i = 0; i < N_HOBBIES; i++) w[i] = i == rare ? rare_p : (1 - rare_p) / (N_HOBBIES - 1);

    /* a fixed draw order keeps record i a function of (seed, i) only */
    int female = rng_uniform_d(r) < p_female;
    const char *name = female ? female_names[tk_randint(r, 0, COUNT(female_names) - 1)]
                              : male_names[tk_randint(r, 0, COUNT(male_names) - 1)];
    const char *prof = professions[tk_randint(r, 0, COUNT(professions) - 1)];
    const char *city = cities[tk_randint(r, 0, COUNT(cities) - 1)];
    const char *hobby = hobbies[tk_draw(r, w, N_HOBBIES)];
    int tpl = (int)tk_randint(r, 0, 2);

    TkBuf bio = {0};
    bio_text(&bio, tpl, female, name, prof, city, hobby);
    const char *gender = bio_pattern_names[female ? BIO_FEMALE : BIO_MALE];
    /* no think text: tk_record leaves the completion out, and the plain bio
     * goes in below (tk_record would wrap a trace in tags) */
    rc = bio.oom ? tr_err(TR_ENOMEM, "bio: out of memory")
                 : tk_record(out, "bio", index, BIO_PROMPT, gender, NULL, gender);
    if (rc == TR_OK && ((traces && !(out->completion = strdup(tkbuf_str(&bio)))) ||
                        record_meta_set_str(out, "gender", gender) ||
                        record_meta_set_str(out, "hobby", hobby))) {
        record_free(out);
        rc = tr_err(TR_ENOMEM, "bio: out of memory building record %lld", (long long)index);
    }
    tkbuf_free(&bio);
    return rc;
}

/* Right when the answer is the bio's gender, ignoring case and surrounding
 * space (eval models write "Female" as often as "female"). */
static int bio_score(const Record *rec, const char *answer, size_t len, char *why, size_t why_len) {
    if (!rec->answer) {
        if (why) snprintf(why, why_len, "record has no answer");
        return 0;
    }
    while (len && isspace((unsigned char)*answer)) answer++, len--;
    while (len && isspace((unsigned char)answer[len - 1])) len--;
    size_t n = strlen(rec->answer);
    int ok = len == n;
    for (size_t i = 0; ok && i < n; i++)
        ok = tolower((unsigned char)answer[i]) == tolower((unsigned char)rec->answer[i]);
    if (!ok && why) snprintf(why, why_len, "expected %s", rec->answer);
    return ok;
}

const TaskDef task_bio = {
    .name = "bio",
    .help = "short templated biographies under one prompt (f-DPG); answer = the gender",
    .params = bio_params,
    .n_params = (int)(sizeof bio_params / sizeof bio_params[0]),
    .pattern_names = bio_pattern_names,
    .pattern_regex = bio_rule_regex,
    .n_patterns = 2,
    .gen = bio_gen,
    .score = bio_score,
};
