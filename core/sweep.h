/* sweep.h — the protocol's data collection (step 7) as one batch-major engine: the
 * baseline decode and any number of (zone, layer) masked decodes of one feature set,
 * sharing the work they have in common. Owns the batching plan (features sorted by
 * length), the input buffers, one layer cache (zl_bert_prefix) and one logits
 * collector per configuration; decoding and writing use core/squad.h.
 *
 *     zl_sweep_config cfg[] = {{ZL_ZONE_NONE, -1}, {ZL_ZONE_Q2, 0}, {ZL_ZONE_P2, 3}};
 *     zl_sweep_opts so = zl_sweep_defaults();              // batch 32, padding to max_seq_length
 *     zl_sweep *s = zl_sweep_new(model, feats, cfg, 3, &so);
 *     for (int b = 0; b < zl_sweep_batches(s); b++) zl_sweep_step(s, b);
 *     zl_squad_predictions *p = zl_sweep_decode(s, 1, ds, &decode_opts);  // config 1: q2 @ 0
 *     ...; zl_sweep_release(s, 1);                          // frees its logits
 *     zl_sweep_free(s);
 *
 * Work sharing: each batch runs one unmasked pass into a layer cache (core/bert.h,
 * zl_bert_prefix) and every (zone, layer) configuration runs only from its layer on,
 * deepest layer first; zones that change few rows take the cache's rows path, and `all`
 * under dynamic padding narrows to the batch's width after its layer. The path is fixed
 * per zone and padding, never per batch, and a sweep of one configuration (what `decode`
 * runs) does the same work, so a sweep's files equal separate decodes byte for byte.
 * zl_sweep_batch_cost counts this work (zl_sweep_work counts it as run).
 *
 * Padding. The reference pads every feature to max_seq_length, and that matters twice:
 * the `all` zone lets padding keys be attended at its layer, and write_predictions
 * takes the n_best largest logits over ALL positions, padding included, before it
 * drops the invalid ones (a padding logit in the top n_best displaces a real
 * candidate). ZL_SWEEP_PAD_MAX (the default) is therefore exact; ZL_SWEEP_PAD_DYNAMIC
 * pads each batch to its longest feature (about 2x less work on SQuAD) and is exact
 * for the real positions, but drops the padding logits from that n_best ranking (its
 * `all` configurations included: their logits are collected at width W too). Only the
 * real positions and the n_best largest padding logits (start and end separately) are
 * stored per feature: the top-n_best selection over that reduced row is the same as
 * over the full row.
 */
#ifndef ZL_SWEEP_H
#define ZL_SWEEP_H

#include "bert.h"
#include "squad.h"

typedef struct zl_sweep_config {
    zl_zone zone;   /* ZL_ZONE_NONE = the baseline */
    int layer;      /* 0-based layer; -1 = every layer (the baseline uses -1) */
    /* m:forward's other masking options (borrowed: they must outlive the sweep). A
       configuration with either is run as its own full pass from layer 0 at
       max_seq_length (nothing shared), with exactly zl_bert_forward's arithmetic. */
    const zl_bert_mask *mask;  /* a general mask, pattern [max_seq_length]^2 (not batched) */
    const float *head_mask;    /* [L, NH] multipliers, or NULL */
} zl_sweep_config;

enum { ZL_SWEEP_PAD_MAX = 0, ZL_SWEEP_PAD_DYNAMIC = 1 };

typedef struct zl_sweep_opts {
    int batch;        /* features per batch (default 32) */
    int padding;      /* ZL_SWEEP_PAD_MAX (default) or ZL_SWEEP_PAD_DYNAMIC */
    int keep_pad;     /* padding logits kept per feature: >= decode's n_best_size (20) */
    const char *spill_dir; /* NULL: logits in memory; else appended to spill_dir/cfg{i}.bin
                              (an existing folder): small memory, and a long sweep can be
                              resumed from its last synced batch (zl_sweep_sync/resume) */
    int spill_keep;   /* 1: keep the existing spill files (to call zl_sweep_resume next);
                         0: start them empty */
    int precision;    /* ZL_PRECISION_FP32 (default) or ZL_PRECISION_BF16 (core/bf16.h): every
                         pass's products; a bf16 sweep equals separate bf16 decodes too */
} zl_sweep_opts;

typedef struct zl_sweep zl_sweep;

zl_sweep_opts zl_sweep_defaults(void);
/* Plans the batches and allocates activations for batch x max_seq_length. The model
 * and the features are borrowed and must outlive the sweep. Configurations are
 * validated (layer range, zone) and copied. */
zl_sweep *zl_sweep_new(const zl_bert *m, const zl_squad_features *f, const zl_sweep_config *cfg,
                       int n_cfg, const zl_sweep_opts *o);
void zl_sweep_free(zl_sweep *s);

int zl_sweep_batches(const zl_sweep *s);
/* Features (0-based indexes into f->items) of batch b: count returned, *first points into
 * the plan. */
int zl_sweep_batch_features(const zl_sweep *s, int b, const int **first);
/* Tokens (rows x width, summed over the passes) that batch b costs: for progress/ETA. */
double zl_sweep_batch_cost(const zl_sweep *s, int b);
/* Tokens run so far by zl_sweep_step, counted as zl_sweep_batch_cost counts them (from
 * the passes actually made): a check that the cost is honest. */
double zl_sweep_work(const zl_sweep *s);
/* Runs batch b (0-based) through every configuration and stores the logits. */
int zl_sweep_step(zl_sweep *s, int b);
/* write_predictions for configuration i once every batch has run (see squad.h). */
zl_squad_predictions *zl_sweep_decode(const zl_sweep *s, int i, const zl_squad *ds,
                                      const zl_squad_decode_opts *o);
/* Frees configuration i's stored logits (decode it first); removes its spill file. */
void zl_sweep_release(zl_sweep *s, int i);
/* Spilling: flushes and fsyncs every spill file and stores their sizes in offsets[n_cfg] (-1 for
 * released configurations). Record these with the number of batches run so far. */
int zl_sweep_sync(zl_sweep *s, int64_t *offsets);
/* Spilling: checks that each file's records up to its offset are whole and verify (length
 * and crc32c checksum), without changing anything: -1 naming the file, the record and
 * its byte otherwise (the caller then discards the partial state and starts over). */
int zl_sweep_verify(const zl_sweep *s, const int64_t *offsets);
/* Spilling: continues an interrupted sweep whose files were synced at offsets (the same
 * configurations, features and options): truncates each file to its offset. The caller
 * then runs the batches after the synced ones. */
int zl_sweep_resume(zl_sweep *s, const int64_t *offsets);

#endif
