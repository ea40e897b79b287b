/* Stop strings over streamed text: each sequence keeps the last bytes of
 * its text (one byte less than the longest stop string), so a match that
 * spans tokens is found when its last byte arrives. Knows nothing of
 * tokenizers: the bytes of each token come from the caller. */
#include <string.h>

#include "thinkrl/core.h"
#include "thinkrl/generate.h"

int stopstr_init(StopStrings *s, int n_seq, const char *const *stops, int n_stops, TokenPieceFn piece,
                 void *piece_ctx) {
    memset(s, 0, sizeof *s);
    if (n_seq < 1 || n_stops < 0) return tr_err(TR_EINVAL, "stop strings: %d sequences, %d strings", n_seq, n_stops);
    s->n_seq = n_seq;
    s->piece = piece;
    s->piece_ctx = piece_ctx;
    s->stops = calloc((size_t)(n_stops ? n_stops : 1), sizeof(char *));
    s->stop_len = calloc((size_t)(n_stops ? n_stops : 1), sizeof(size_t));
    s->tail_len = calloc((size_t)n_seq, sizeof(size_t));
    if (!s->stops || !s->stop_len || !s->tail_len) goto oom;
    size_t longest = 1;
    for (int i = 0; i < n_stops; i++) {
        size_t n = strlen(stops[i]);
        if (n == 0) {
            stopstr_free(s);
            return tr_err(TR_EINVAL, "stop strings: string %d is empty", i);
        }
        s->stops[i] = strdup(stops[i]);
        if (!s->stops[i]) goto oom;
        s->n_stops = i + 1;
        s->stop_len[i] = n;
        if (n > longest) longest = n;
    }
    s->keep = longest - 1;
    s->tail = malloc((size_t)n_seq * (s->keep ? s->keep : 1));
    if (!s->tail) goto oom;
    return TR_OK;
oom:
    stopstr_free(s);
    return tr_err(TR_ENOMEM, "stop strings: out of memory");
}

void stopstr_free(StopStrings *s) {
    if (s->stops)
        for (int i = 0; i < s->n_stops; i++) free(s->stops[i]);
    free(s->stops);
    free(s->stop_len);
    free(s->tail);
    free(s->tail_len);
    free(s->buf);
    memset(s, 0, sizeof *s);
}

int stopstr_push(StopStrings *s, int seq, const char *piece, size_t len) {
    if (seq < 0 || seq >= s->n_seq) return tr_err(TR_EINVAL, "stop strings: sequence %d out of range", seq);
    if (s->n_stops == 0 || len == 0) return 0;
    char *tail = s->tail + (size_t)seq * s->keep;
    size_t tl = s->tail_len[seq], n = tl + len;
    if (n > s->buf_cap) {
        char *nb = realloc(s->buf, n);
        if (!nb) return tr_err(TR_ENOMEM, "stop strings: out of memory");
        s->buf = nb;
        s->buf_cap = n;
    }
    memcpy(s->buf, tail, tl);
    memcpy(s->buf + tl, piece, len);
    int hit = 0;
    for (int i = 0; i < s->n_stops && !hit; i++) {
        size_t m = s->stop_len[i];
        if (m > n) continue;
        /* a match must end inside the new piece: start > tl - m */
        size_t from = tl + 1 > m ? tl + 1 - m : 0;
        for (size_t st = from; st + m <= n; st++)
            if (s->buf[st] == s->stops[i][0] && !memcmp(s->buf + st, s->stops[i], m)) {
                hit = 1;
                break;
            }
    }
    size_t k = n < s->keep ? n : s->keep;
    memcpy(tail, s->buf + n - k, k);
    s->tail_len[seq] = k;
    return hit;
}

int stopstr_check(void *ctx, int seq, const int32_t *tokens, int n) {
    StopStrings *s = ctx;
    if (n < 1 || !s->piece) return 0;
    const char *text = NULL;
    size_t len = 0;
    int rc = s->piece(s->piece_ctx, seq, tokens[n - 1], &text, &len);
    if (rc < 0) return rc;
    return stopstr_push(s, seq, text, len);
}
