/* Writes the fixture of the generate CLI tests: a tiny random Qwen2-style
 * model whose vocabulary is exactly the built-in byte-level tokenizer's
 * (256 bytes + its special tokens, <|endoftext|> = 256 as eos), with a short
 * context so that "prompt too long" is cheap to provoke.
 *   generate_fixture DIR */
#include <stdio.h>
#include <string.h>

#include "thinkrl/core.h"
#include "thinkrl/model.h"
#include "thinkrl/tokenizer.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: generate_fixture DIR\n");
        return 2;
    }
    int nspec = 0;
    while (TOK_BYTE_LEVEL_SPECIALS[nspec]) nspec++;
    ModelConfig c;
    memset(&c, 0, sizeof c);
    c.arch = ARCH_QWEN2;
    c.C = 64;
    c.F = 128;
    c.L = 2;
    c.NH = 4;
    c.KVH = 2;
    c.HS = 16;
    c.V = 256 + nspec;
    c.max_pos = 64;
    c.eps = 1e-6f;
    c.rope_theta = 10000.0f;
    c.tie = 1;
    c.qkv_bias = 1;
    c.bos_id = -1;
    c.eos_ids[0] = 256;
    c.n_eos = 1;
    Model m;
    if (model_create(&m, &c) || (model_init_random(&m, 7, 0.3f), model_save(&m, argv[1], ST_F32)) ||
        tok_write_byte_level(argv[1], NULL, 0)) {
        fprintf(stderr, "generate_fixture: %s\n", tr_errmsg());
        return 1;
    }
    model_free(&m);
    return 0;
}
