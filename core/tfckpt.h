/* tfckpt.h — zonelab's TensorFlow 1.x checkpoints ("tensor bundles"). Owns reading
 * the `.index` table (a LevelDB-format SSTable of BundleEntryProto records, decoded by
 * hand) and the `.data-0000i-of-0000N` shards, crc32c checks of blocks and tensor data,
 * and a small single-shard writer (used by tests to make checkpoints from known tensors).
 *
 *     zl_tensor_map *m = zl_tfckpt_load("uncased_L-12_H-768_A-12/bert_model.ckpt", 1);
 *     const zl_tensor *w = zl_tensor_map_get(m, "bert/embeddings/word_embeddings");
 *     zl_tensor_map_free(m);
 *
 *     zl_tensor_map *names = zl_tfckpt_load("model_dir", 0);  // index only: no data file
 *
 * Paths: a checkpoint prefix (".../bert_model.ckpt"), its ".index" or a ".data-…" file,
 * or a directory (bert_model.ckpt or model.ckpt preferred, else its only "*.index").
 * Entries keep the stored dtype ("F32", "F16", "BF16", "I32", "I64", "F64", "I8", "I16",
 * "U8", "U16", "U32", "U64", "BOOL", "STRING", ...: zl_named_tensor.dtype holds 7
 * characters, so TF's "DT_STRING" is shown as "STRING"). With data, float types become
 * f32 tensors and integer types i32 (range-checked); strings and other non-numeric
 * tensors stay listed with tensor = NULL.
 */
#ifndef ZL_TFCKPT_H
#define ZL_TFCKPT_H

#include <stddef.h>
#include <stdint.h>

#include "io.h"

/* Reads a checkpoint's index (with_data = 0) or its index and every numeric tensor
 * (with_data = 1). Entries come sorted by name (the index's own order). */
zl_tensor_map *zl_tfckpt_load(const char *path, int with_data);

/* Writes prefix.index and prefix.data-00000-of-00001 (F32/I32 tensors, uncompressed
 * blocks, correct crc32c), both atomically; the data file is committed first. */
int zl_tfckpt_save(const char *prefix, const zl_tensor_map *m);

/* The checkpoint prefix that path names (see above); caller frees. NULL + error. */
char *zl_tfckpt_find_prefix(const char *path);

/* Parses an index image in memory (names, dtypes, shapes, offset/nbytes; no data).
 * The loader's core, and the fuzz entry point: any bytes give a map or an error. */
zl_tensor_map *zl_tfckpt_parse_index(const char *what, const unsigned char *buf, size_t len);

/* crc32c (Castagnoli), continuing from crc (0 to start), and LevelDB's masking. */
uint32_t zl_tfckpt_crc32c(uint32_t crc, const void *data, size_t len);
uint32_t zl_tfckpt_crc_mask(uint32_t crc);

#endif
