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

/* Renames and unlinks of zonelab's outputs go through these two, the one place where
 * the fault hook lives: with ZONELAB_FAULT=rename:N (or unlink:N) in the environment
 * the process kills itself with SIGKILL right before its Nth rename (unlink), so the
 * tests can stop a run at every step of a checkpoint rotation (tests/cli/fault_points.sh).
 * ZONELAB_FAULT_TRACE=FILE appends "rename N TO" / "unlink N PATH" there for each one made. */
int zl_io_rename(const char *from, const char *to);
int zl_io_unlink(const char *path);

/* A fresh string a + sep + b (sep "/" joins a folder and a name; "" appends), or NULL when
 * out of memory (no error set). The caller frees it. */
char *zl_io_join(const char *a, const char *sep, const char *b);

/* Opens an output file for writing without ever following a symlink (a shared run
 * folder must not let anyone redirect or truncate a file outside it). mode: 'w'
 * truncates or creates, 'a' appends or creates, 'x' creates a new file only (fails
 * when the name exists). A symlink, or anything but a regular file, at path is
 * refused naming it. Returns a descriptor (close-on-exec) or -1. */
int zl_io_open_output(const char *path, char mode);

/* One process per run folder: takes an exclusive flock on dir/name (name NULL: ".lock";
 * the kernel releases it when the process dies, however it dies) and records the pid
 * there. shared: a shared lock instead (separate decodes of one folder run side by side,
 * each holding its own configuration's exclusive lock, while a sweep or a training run
 * into it is refused). Returns the lock's descriptor (close it to release), or -1 with
 * "DIR is in use by process PID" when another process holds it. */
int zl_io_lock_dir(const char *dir, const char *name, int shared);

/* Reads a whole file into a NUL-terminated buffer (caller frees). Fails, naming the
 * path, when the file is missing, unreadable or larger than max_bytes. */
int zl_io_read_file(const char *path, size_t max_bytes, char **data, size_t *len);
/* A loader: reads path whole (as zl_io_read_file) and returns parse(path, data, len, arg),
 * the file's bytes freed after; NULL when the read or the parse fails. */
void *zl_io_load(const char *path, size_t max_bytes,
                 void *(*parse)(const char *path, const char *data, size_t len, const void *arg),
                 const void *arg);

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
