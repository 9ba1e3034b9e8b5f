/* io.h — zonelab's file I/O. Owns whole-file reading with size limits, atomic
 * writing (temporary file + fsync + rename: a killed process leaves the old file
 * or the new one, never a truncated one), and the safetensors format
 * (F32/F16/BF16/I32/I64 read and widened, F32/I32 written).
 *
 *     zl_tensor_map *m = zl_safetensors_load("model.safetensors");
 *     const zl_tensor *w = zl_tensor_map_get(m, "qa_outputs.weight");
 *     zl_tensor_map_free(m);
 */
#ifndef ZL_IO_H
#define ZL_IO_H

#include <stddef.h>
#include <stdio.h>

#include "tensor.h"

/* Reads a whole file into a NUL-terminated buffer (caller frees). Fails, naming the
 * path, when the file is missing, unreadable or larger than max_bytes. */
int zl_io_read_file(const char *path, size_t max_bytes, char **data, size_t *len);

/* Writes data to path atomically. */
int zl_io_write_atomic(const char *path, const void *data, size_t len);

/* Streaming atomic writer: begin, write (any number of times), then commit or abort.
 * commit fsyncs, renames over path and frees; abort removes the temporary file. */
typedef struct zl_atomic_file zl_atomic_file;
zl_atomic_file *zl_io_atomic_begin(const char *path);
int zl_io_atomic_write(zl_atomic_file *f, const void *data, size_t len);
FILE *zl_io_atomic_stream(zl_atomic_file *f); /* for fprintf; errors caught at commit */
int zl_io_atomic_commit(zl_atomic_file *f);
void zl_io_atomic_abort(zl_atomic_file *f);

/* ---- named tensors ---- */
typedef struct zl_named_tensor {
    char *name;
    char dtype[8];             /* dtype as stored in the file: "F32", "F16", "BF16", ... */
    int ndim;
    int64_t shape[ZL_MAX_DIMS];
    zl_tensor *tensor;         /* NULL in header-only listings */
    uint64_t offset, nbytes;   /* where the data lies in the file (0 when not from a file) */
} zl_named_tensor;

typedef struct zl_tensor_map {
    int count;
    int cap;
    zl_named_tensor *items;
} zl_tensor_map;

zl_tensor_map *zl_tensor_map_new(void);
/* Adds a tensor under name; the map takes ownership of t (freed with the map). */
int zl_tensor_map_add(zl_tensor_map *m, const char *name, zl_tensor *t);
zl_tensor *zl_tensor_map_get(const zl_tensor_map *m, const char *name);
const zl_named_tensor *zl_tensor_map_find(const zl_tensor_map *m, const char *name);
/* Sorts entries by name (byte order). */
void zl_tensor_map_sort(zl_tensor_map *m);
void zl_tensor_map_free(zl_tensor_map *m);

/* ---- safetensors ---- */

/* Loads every tensor, widening F16/BF16 to f32 and I64 (range-checked) to i32. */
zl_tensor_map *zl_safetensors_load(const char *path);
/* Header only: names, stored dtypes and shapes, tensor = NULL. */
zl_tensor_map *zl_safetensors_list(const char *path);
/* Parses a safetensors image in memory (the loader's core; also the fuzz entry). */
zl_tensor_map *zl_safetensors_parse(const char *what, const unsigned char *buf, size_t len,
                                    int with_data);
/* Writes the map's tensors (F32 / I32) atomically, sorted by name. metadata may be
 * NULL or a list of key, value string pairs ending in NULL ("__metadata__"). */
int zl_safetensors_save(const char *path, const zl_tensor_map *m, const char *const *metadata);

/* Half-precision conversions (exact widening, round-to-nearest-even narrowing). */
float zl_f16_to_f32(uint16_t h);
float zl_bf16_to_f32(uint16_t h);
uint16_t zl_f32_to_f16(float f);
uint16_t zl_f32_to_bf16(float f);

#endif
