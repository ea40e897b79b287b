/* config.json of Qwen2ForCausalLM / LlamaForCausalLM <-> ModelConfig, and the
 * built-in presets. Defaults follow the transformers config classes; anything
 * the model code does not implement is refused by name, never ignored. */
#include <cJSON.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "thinkrl/core.h"
#include "thinkrl/model.h"

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Integer field: required or defaulted; must be a whole number in [lo, hi]. */
static int get_int(const cJSON *j, const char *path, const char *key, int required, long long def,
                   long long lo, long long hi, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) {
        if (required) return tr_err(TR_EFORMAT, "%s: field '%s': missing (required)", path, key);
        *out = (int)def;
        return TR_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return tr_err(TR_EFORMAT, "%s: field '%s': expected an integer", path, key);
    if (v->valuedouble < (double)lo || v->valuedouble > (double)hi)
        return tr_err(TR_EFORMAT, "%s: field '%s': %.15g out of range [%lld, %lld]", path, key,
                      v->valuedouble, lo, hi);
    *out = (int)v->valuedouble;
    return TR_OK;
}

static int get_float(const cJSON *j, const char *path, const char *key, double def, double lo,
                     double hi, float *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) {
        *out = (float)def;
        return TR_OK;
    }
    if (!cJSON_IsNumber(v)) return tr_err(TR_EFORMAT, "%s: field '%s': expected a number", path, key);
    if (!(v->valuedouble >= lo && v->valuedouble <= hi))
        return tr_err(TR_EFORMAT, "%s: field '%s': %g out of range [%g, %g]", path, key,
                      v->valuedouble, lo, hi);
    *out = (float)v->valuedouble;
    return TR_OK;
}

static int get_bool(const cJSON *j, const char *path, const char *key, int def, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return TR_OK;
    }
    if (!cJSON_IsBool(v)) return tr_err(TR_EFORMAT, "%s: field '%s': expected true or false", path, key);
    *out = cJSON_IsTrue(v);
    return TR_OK;
}

static int parse_arch(const cJSON *j, const char *path, ModelArch *arch) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "architectures");
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    const char *name = NULL;
    if (a && cJSON_IsArray(a) && cJSON_GetArraySize(a) > 0 &&
        cJSON_IsString(cJSON_GetArrayItem(a, 0)))
        name = cJSON_GetArrayItem(a, 0)->valuestring;
    if (name) {
        if (!strcmp(name, "Qwen2ForCausalLM")) *arch = ARCH_QWEN2;
        else if (!strcmp(name, "LlamaForCausalLM")) *arch = ARCH_LLAMA;
        else
            return tr_err(TR_EFORMAT,
                          "%s: field 'architectures': '%s' is not supported (expected "
                          "Qwen2ForCausalLM or LlamaForCausalLM)",
                          path, name);
        return TR_OK;
    }
    if (mt && cJSON_IsString(mt)) {
        if (!strcmp(mt->valuestring, "qwen2")) *arch = ARCH_QWEN2;
        else if (!strcmp(mt->valuestring, "llama")) *arch = ARCH_LLAMA;
        else
            return tr_err(TR_EFORMAT, "%s: field 'model_type': '%s' is not supported (qwen2, llama)",
                          path, mt->valuestring);
        return TR_OK;
    }
    return tr_err(TR_EFORMAT, "%s: field 'architectures': missing (and no 'model_type')", path);
}

static int parse_token_ids(const cJSON *j, const char *path, ModelConfig *c) {
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "bos_token_id");
    c->bos_id = -1;
    if (b && !cJSON_IsNull(b)) {
        if (!cJSON_IsNumber(b) || b->valuedouble < 0 || b->valuedouble >= c->V || b->valuedouble != floor(b->valuedouble))
            return tr_err(TR_EFORMAT, "%s: field 'bos_token_id': expected an id below vocab_size %d",
                          path, c->V);
        c->bos_id = (int)b->valuedouble;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "eos_token_id");
    c->n_eos = 0;
    if (!e || cJSON_IsNull(e)) return TR_OK;
    if (cJSON_IsNumber(e)) {
        if (e->valuedouble < 0 || e->valuedouble >= c->V || e->valuedouble != floor(e->valuedouble))
            return tr_err(TR_EFORMAT, "%s: field 'eos_token_id': %g is not an id below vocab_size %d", path,
                          e->valuedouble, c->V);
        c->eos_ids[c->n_eos++] = (int)e->valuedouble;
        return TR_OK;
    }
    if (!cJSON_IsArray(e)) return tr_err(TR_EFORMAT, "%s: field 'eos_token_id': expected an id or a list", path);
    const cJSON *it;
    cJSON_ArrayForEach(it, e) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= c->V ||
            it->valuedouble != floor(it->valuedouble))
            return tr_err(TR_EFORMAT, "%s: field 'eos_token_id': entries must be ids below %d", path, c->V);
        if (c->n_eos == MODEL_MAX_EOS)
            return tr_err(TR_EFORMAT, "%s: field 'eos_token_id': more than %d ids", path, MODEL_MAX_EOS);
        c->eos_ids[c->n_eos++] = (int)it->valuedouble;
    }
    return TR_OK;
}

static int parse_rope_scaling(const cJSON *j, const char *path, ModelConfig *c) {
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "rope_scaling");
    c->rope_llama3 = 0;
    if (!r || cJSON_IsNull(r)) return TR_OK;
    if (!cJSON_IsObject(r)) return tr_err(TR_EFORMAT, "%s: field 'rope_scaling': expected an object or null", path);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "rope_type");
    if (!t) t = cJSON_GetObjectItemCaseSensitive(r, "type");
    if (!t || !cJSON_IsString(t))
        return tr_err(TR_EFORMAT, "%s: field 'rope_scaling.rope_type': missing", path);
    if (!strcmp(t->valuestring, "default")) return TR_OK;
    if (strcmp(t->valuestring, "llama3") != 0)
        return tr_err(TR_EFORMAT,
                      "%s: field 'rope_scaling.rope_type': '%s' is not supported (llama3, default)",
                      path, t->valuestring);
    c->rope_llama3 = 1;
    const char *keys[] = {"factor", "low_freq_factor", "high_freq_factor"};
    float *dst[] = {&c->rope_factor, &c->rope_low, &c->rope_high};
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, keys[i]);
        /* a positive normal float: 1e-300 would round to 0 (division by zero
         * in rope_inv_freq), 1e300 to inf */
        if (!v || !cJSON_IsNumber(v) || !(v->valuedouble >= FLT_MIN && v->valuedouble <= FLT_MAX))
            return tr_err(TR_EFORMAT, "%s: field 'rope_scaling.%s': expected a positive number", path, keys[i]);
        *dst[i] = (float)v->valuedouble;
    }
    if (!(c->rope_high > c->rope_low))
        return tr_err(TR_EFORMAT, "%s: field 'rope_scaling.high_freq_factor': must exceed low_freq_factor", path);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "original_max_position_embeddings");
    /* range-checked before the (int) conversion, which is undefined past INT_MAX */
    if (!m || !cJSON_IsNumber(m) || !(m->valuedouble >= 1 && m->valuedouble <= (double)(1 << 30)) ||
        m->valuedouble != floor(m->valuedouble))
        return tr_err(TR_EFORMAT,
                      "%s: field 'rope_scaling.original_max_position_embeddings': expected an integer in [1, %d]",
                      path, 1 << 30);
    c->rope_orig_max = (int)m->valuedouble;
    return TR_OK;
}

static int config_from_json(ModelConfig *c, const cJSON *j, const char *path) {
    int rc;
    memset(c, 0, sizeof *c);
    if (!cJSON_IsObject(j)) return tr_err(TR_EFORMAT, "%s: expected a JSON object", path);
    if ((rc = parse_arch(j, path, &c->arch))) return rc;
    const int BIG = 1 << 24;
    if ((rc = get_int(j, path, "hidden_size", 1, 0, 1, BIG, &c->C)) ||
        (rc = get_int(j, path, "intermediate_size", 1, 0, 1, BIG, &c->F)) ||
        (rc = get_int(j, path, "num_hidden_layers", 1, 0, 1, 4096, &c->L)) ||
        (rc = get_int(j, path, "num_attention_heads", 1, 0, 1, 4096, &c->NH)) ||
        (rc = get_int(j, path, "vocab_size", 1, 0, 1, BIG, &c->V)) ||
        (rc = get_int(j, path, "num_key_value_heads", 0, c->NH, 1, 4096, &c->KVH)) ||
        (rc = get_int(j, path, "head_dim", 0, c->C / c->NH, 2, 4096, &c->HS)) ||
        (rc = get_int(j, path, "max_position_embeddings", 0, c->arch == ARCH_QWEN2 ? 32768 : 2048, 1,
                      1 << 30, &c->max_pos)))
        return rc;
    if ((rc = get_float(j, path, "rms_norm_eps", 1e-6, 0, 1, &c->eps)) ||
        (rc = get_float(j, path, "rope_theta", 10000.0, 1e-3, 1e12, &c->rope_theta)))
        return rc;
    if ((rc = get_bool(j, path, "tie_word_embeddings", 0, &c->tie))) return rc;
    int attn_bias = 0;
    if ((rc = get_bool(j, path, "attention_bias", 0, &attn_bias)) ||
        (rc = get_bool(j, path, "mlp_bias", 0, &c->mlp_bias)))
        return rc;
    if (c->arch == ARCH_QWEN2) {
        c->qkv_bias = 1;
        c->o_bias = 0;
        c->mlp_bias = 0;
    } else {
        c->qkv_bias = attn_bias;
        c->o_bias = attn_bias;
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(j, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0))
        return tr_err(TR_EFORMAT, "%s: field 'hidden_act': only \"silu\" is supported", path);
    int sw = 0;
    if ((rc = get_bool(j, path, "use_sliding_window", 0, &sw))) return rc;
    if (sw) return tr_err(TR_EFORMAT, "%s: field 'use_sliding_window': sliding-window attention is not supported", path);
    if (cJSON_GetObjectItemCaseSensitive(j, "quantization_config"))
        return tr_err(TR_EFORMAT, "%s: field 'quantization_config': quantized checkpoints are not supported", path);
    if ((rc = parse_rope_scaling(j, path, c))) return rc;
    if ((rc = parse_token_ids(j, path, c))) return rc;
    return config_validate(c) ? tr_err_ctx(TR_EFORMAT, "%s", path) : TR_OK;
}

int config_load(ModelConfig *c, const char *path) {
    size_t n;
    char *txt = tr_read_file(path, &n);
    if (!txt) return TR_EIO;
    cJSON *j = cJSON_ParseWithLength(txt, n);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        int line = 1;
        for (const char *p = txt; at && p < at && *p; p++) line += *p == '\n';
        free(txt);
        return tr_err(TR_EFORMAT, "%s: line %d: invalid JSON", path, line);
    }
    int rc = config_from_json(c, j, path);
    cJSON_Delete(j);
    free(txt);
    return rc;
}

int config_validate(const ModelConfig *c) {
    if (c->C < 1 || c->F < 1 || c->L < 1 || c->NH < 1 || c->KVH < 1 || c->V < 1 || c->HS < 2)
        return tr_err(TR_EINVAL, "sizes must be positive");
    if (c->NH % c->KVH)
        return tr_err(TR_EINVAL, "field 'num_key_value_heads': %d does not divide num_attention_heads %d",
                      c->KVH, c->NH);
    if (c->HS % 2) return tr_err(TR_EINVAL, "field 'head_dim': %d must be even for RoPE", c->HS);
    if (c->HS > 512) return tr_err(TR_EINVAL, "field 'head_dim': %d exceeds 512", c->HS);
    double n = (double)c->C * ((double)c->NH * c->HS * 2 + 2.0 * c->KVH * c->HS + 3.0 * c->F) * c->L +
               2.0 * c->V * c->C;
    if (n > 1e11) return tr_err(TR_EINVAL, "model of %.3g parameters is beyond what thinkrl holds", n);
    return TR_OK;
}

int config_save(const ModelConfig *c, const char *path) {
    cJSON *j = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(c->arch == ARCH_QWEN2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
    cJSON_AddStringToObject(j, "model_type", c->arch == ARCH_QWEN2 ? "qwen2" : "llama");
    cJSON_AddNumberToObject(j, "hidden_size", c->C);
    cJSON_AddNumberToObject(j, "intermediate_size", c->F);
    cJSON_AddNumberToObject(j, "num_hidden_layers", c->L);
    cJSON_AddNumberToObject(j, "num_attention_heads", c->NH);
    cJSON_AddNumberToObject(j, "num_key_value_heads", c->KVH);
    cJSON_AddNumberToObject(j, "head_dim", c->HS);
    cJSON_AddNumberToObject(j, "vocab_size", c->V);
    cJSON_AddNumberToObject(j, "max_position_embeddings", c->max_pos);
    cJSON_AddNumberToObject(j, "rms_norm_eps", c->eps);
    cJSON_AddNumberToObject(j, "rope_theta", c->rope_theta);
    cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tie);
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    cJSON_AddStringToObject(j, "torch_dtype", "float32");
    if (c->arch == ARCH_LLAMA) {
        cJSON_AddBoolToObject(j, "attention_bias", c->qkv_bias);
        cJSON_AddBoolToObject(j, "mlp_bias", c->mlp_bias);
    }
    if (c->rope_llama3) {
        cJSON *r = cJSON_AddObjectToObject(j, "rope_scaling");
        cJSON_AddStringToObject(r, "rope_type", "llama3");
        cJSON_AddNumberToObject(r, "factor", c->rope_factor);
        cJSON_AddNumberToObject(r, "low_freq_factor", c->rope_low);
        cJSON_AddNumberToObject(r, "high_freq_factor", c->rope_high);
        cJSON_AddNumberToObject(r, "original_max_position_embeddings", c->rope_orig_max);
    } else {
        cJSON_AddNullToObject(j, "rope_scaling");
    }
    if (c->bos_id >= 0) cJSON_AddNumberToObject(j, "bos_token_id", c->bos_id);
    if (c->n_eos == 1) cJSON_AddNumberToObject(j, "eos_token_id", c->eos_ids[0]);
    else if (c->n_eos > 1) {
        cJSON *e = cJSON_AddArrayToObject(j, "eos_token_id");
        for (int i = 0; i < c->n_eos; i++) cJSON_AddItemToArray(e, cJSON_CreateNumber(c->eos_ids[i]));
    }
    char *txt = tr_json_print(j, 1);
    cJSON_Delete(j);
    if (!txt) return tr_err(TR_ENOMEM, "%s: out of memory", base_name(path));
    size_t n = strlen(txt);
    char *buf = malloc(n + 2);
    if (!buf) {
        cJSON_free(txt);
        return tr_err(TR_ENOMEM, "out of memory");
    }
    memcpy(buf, txt, n);
    buf[n] = '\n';
    cJSON_free(txt);
    int rc = tr_write_file_atomic(path, buf, n + 1);
    free(buf);
    return rc;
}

int config_preset(ModelConfig *c, const char *name) {
    struct {
        const char *name;
        int C, L, NH, KVH, F, V;
    } P[] = {
        {"nano", 128, 4, 4, 2, 384, 512},
        {"micro", 256, 8, 8, 4, 768, 2048},
        {"mini", 512, 8, 8, 4, 1536, 8192},
        {"qwen05", 896, 24, 14, 2, 4864, 151936},
    };
    for (size_t i = 0; i < sizeof P / sizeof P[0]; i++) {
        if (strcmp(name, P[i].name) != 0) continue;
        memset(c, 0, sizeof *c);
        c->arch = ARCH_QWEN2;
        c->C = P[i].C;
        c->L = P[i].L;
        c->NH = P[i].NH;
        c->KVH = P[i].KVH;
        c->F = P[i].F;
        c->V = P[i].V;
        c->HS = c->C / c->NH;
        c->eps = 1e-6f;
        c->qkv_bias = 1;
        c->tie = 1;
        c->bos_id = -1;
        if (!strcmp(name, "qwen05")) {
            c->rope_theta = 1000000.0f;
            c->max_pos = 32768;
            c->bos_id = 151643;
            c->eos_ids[0] = 151643;
            c->n_eos = 1;
        } else {
            c->rope_theta = 10000.0f;
            c->max_pos = 4096;
        }
        return TR_OK;
    }
    return tr_err(TR_EINVAL, "unknown preset '%s' (nano, micro, mini, qwen05)", name);
}
