/* checkpoint.h — zonelab's model files. Owns finding a model's config and weights on
 * disk, mapping Hugging Face parameter names to Google TensorFlow names (and back),
 * filling a zl_bert from a tensor map with presence and shape checks, and writing a
 * model as model.safetensors + bert_config.json. zl_bert_load / zl_bert_save (bert.h)
 * are implemented here.
 *
 *     zl_bert *m = zl_bert_load("cased_L-12_H-768_A-12");   // TF checkpoint + bert_config.json
 *     if (m->fresh_qa_head) puts("no QA head in the checkpoint: initialised a new one");
 *     zl_bert_save(m, "run/model");                          // model.safetensors + bert_config.json
 *
 * Names: HF `bert.encoder.layer.3.attention.self.query.weight` [out, in] is TF
 * `bert/encoder/layer_3/attention/self/query/kernel` [in, out] (transposed on load);
 * LayerNorm weight/bias are gamma/beta; embeddings tables drop ".weight";
 * `qa_outputs.weight` [2, H] / `.bias` are run_squad.py's `cls/squad/output_weights`
 * [2, H] / `cls/squad/output_bias` (not transposed). ELECTRA uses `electra.` / `electra/`;
 * a config without model_type whose tensors use that prefix (and none `bert`) loads as
 * ELECTRA (config.model_type_origin ZL_MODEL_TYPE_FROM_NAMES, zl_bert_model_type_note).
 */
#ifndef ZL_CHECKPOINT_H
#define ZL_CHECKPOINT_H

#include "bert.h"
#include "io.h"

/* TF name of an HF parameter name into buf; *transpose = 1 when the TF tensor is the
 * [in, out] kernel of an [out, in] HF weight. -1 with error for an unknown name. */
int zl_checkpoint_tf_name(const char *hf_name, char *buf, size_t len, int *transpose);

/* Checks that map (HF names, or TF names when tf = 1) holds every parameter of c with
 * its shape (data not needed: a header-only listing works). *has_qa (may be NULL) says
 * whether the QA head is present; a half-present head is an error. */
int zl_checkpoint_verify(const zl_bert_config *c, const zl_tensor_map *map, int tf,
                         const char *what, int *has_qa);

/* Copies every parameter of m from map (HF names when tf = 0, TF names when tf = 1),
 * checking presence, shape and that every value is finite (NaN or infinity is refused,
 * naming the tensor and the count); `what` names the file in messages. A missing QA head
 * (both tensors absent) is initialised as run_squad.py's (truncated normal, std 0.02
 * whatever initializer_range, seed qa_seed, bias 0) and m->fresh_qa_head set. Unused tensors are ignored. */
int zl_checkpoint_fill(zl_bert *m, const zl_tensor_map *map, int tf, const char *what,
                       uint64_t qa_seed);

/* The parameters of m as a map of borrowing F32 tensors with HF names (or TF names
 * with kernels transposed into fresh storage when tf = 1). Free with zl_tensor_map_free. */
zl_tensor_map *zl_checkpoint_to_map(const zl_bert *m, int tf);

/* Seed of the fresh QA head given by zl_bert_load. */
#define ZL_CHECKPOINT_QA_SEED 20181011u

#endif
