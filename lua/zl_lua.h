/* zl_lua.h — what the Lua binding files share: the tensor userdata, raising core
 * errors, options tables (lopts.c), ownership (lpin.c), object classes (lclass.c), and the list of per-module openers that luaopen_zonelab calls.
 *
 * Each lua/l<module>.c defines `int zl_lua_open_<module>(lua_State *L)` that pushes
 * the module's table; lzonelab.c stores it as zonelab.<module>.
 */
#ifndef ZL_LUA_H
#define ZL_LUA_H

#include <lauxlib.h>
#include <lua.h>

#include "tensor.h"

#define ZL_TENSOR_MT "zonelab.tensor"

/* Raises a Lua error carrying the core's last error message. Never returns. */
int zl_lua_fail(lua_State *L);


/* Pushes a new tensor userdata with an empty slot and returns the slot; fill it
 * right after with a core-created tensor (userdata first, so a failure of the core
 * call leaves nothing dangling). */
zl_tensor **zl_lua_newtensor(lua_State *L);
/* Pushes t borrowing storage from the value at stack index parent (kept alive). */
void zl_lua_pushview(lua_State *L, zl_tensor *t, int parent);
/* The open tensor at idx, for code that reads t->data as a flat array: raises when it
 * is not a tensor, closed, or not contiguous ("call :contiguous()"). */
zl_tensor *zl_lua_checktensor(lua_State *L, int idx);
/* NULL if not an open tensor; raises when it is not contiguous. */
zl_tensor *zl_lua_totensor(lua_State *L, int idx);
/* The same, accepting strided views (for code that follows t->stride). */
zl_tensor *zl_lua_checktensor_any(lua_State *L, int idx);
zl_tensor *zl_lua_totensor_any(lua_State *L, int idx);

/* Pushes a tensor listing (sorts m): a sequence of {name=, dtype=, shape={...}}. */
struct zl_tensor_map;
void zl_lua_push_listing(lua_State *L, struct zl_tensor_map *m);

/* Field k of the table at t as the data of an i32 tensor of n elements (the table keeps
 * it alive); NULL when absent and not required. Errors read "<where> (field k ...)". */
const int32_t *zl_lua_field_i32(lua_State *L, int t, const char *k, int64_t n, int required,
                                const char *where);
/* Field k of the table at t as a number (def when absent); errors read "<what> k must be a number". */
double zl_lua_field_number(lua_State *L, int t, const char *k, double def, const char *what);

/* Pushes a userdata owning a cJSON tree made from the value at idx (sequences become
 * arrays, an empty table an empty array, other tables objects with string keys) and
 * returns the tree, alive while the userdata is; errors start with `where`. */
struct cJSON;
struct cJSON *zl_lua_tojson(lua_State *L, int idx, const char *where);

/* Reads a shape from a Lua sequence of positive integers; returns ndim. */
int zl_lua_checkshape(lua_State *L, int idx, int64_t *shape);

/* ---- options tables (lopts.c) ----
 * Every binding taking an options table refuses keys it does not know and reads typed
 * values through these; errors read "<fn>: unknown option 'zonee' (did you mean 'zone'?)"
 * and "<fn>: option 'batch' must be an integer >= 1 (got string)". Layer and head numbers
 * are 1-based for people and returned 0-based for the core. */
/* Raises unless every key of the table at idx (none/nil: nothing to check) is in known
 * (NULL-terminated). */
void zl_lua_opts_check(lua_State *L, int idx, const char *fn, const char *const *known);
/* Pushes the message about the first unknown key and returns 1; 0 when all are known. */
int zl_lua_opts_unknown(lua_State *L, int idx, const char *const *known);
int zl_lua_opt_int(lua_State *L, int idx, const char *fn, const char *k, int def, int lo, int hi);
/* Any Lua integer (a seed): no range. */
lua_Integer zl_lua_opt_int64(lua_State *L, int idx, const char *fn, const char *k, lua_Integer def);
double zl_lua_opt_number(lua_State *L, int idx, const char *fn, const char *k, double def);
int zl_lua_opt_bool(lua_State *L, int idx, const char *fn, const char *k, int def);
/* The string stays valid while the options table holds it. */
const char *zl_lua_opt_string(lua_State *L, int idx, const char *fn, const char *k,
                              const char *def);
/* opts.precision: "fp32" (the default) or "bf16" as ZL_PRECISION_* (core/bf16.h); raises
 * naming an unknown value, or saying why bf16 cannot run here. */
int zl_lua_opt_precision(lua_State *L, int idx, const char *fn);
/* A layer typed 1..nlayers or "all": returns it 0-based, -1 for "all", def when absent. */
int zl_lua_opt_layer(lua_State *L, int idx, const char *fn, const char *k, int nlayers, int def);

/* The masking options, one reading for m:forward, loss_and_grads and sweep configurations:
 * zone, layer (1-based or "all"), mask (f32 tensor [S,S] / [B,S,S] or a function(from, to,
 * batch) of 1-based positions returning a number or boolean), heads and layers (1-based
 * lists restricting the mask), head_mask (f32 [NH] or [L,NH] multipliers). */
#define ZL_LUA_MASK_KEYS "zone", "layer", "mask", "heads", "layers", "head_mask"
#define ZL_LUA_MAX_HEADS 1024
struct zl_bert_config;
struct zl_bert_mask;
struct zl_bert_forward_opts;
typedef struct zl_lua_mask_spec {
    int zone;                          /* zl_zone */
    int layer;                         /* 0-based; -1 every layer */
    int has_mask, has_head_mask;
    int heads[ZL_LUA_MAX_HEADS], n_heads;   /* 0-based; -1 absent */
    int layers[256], n_layers;              /* 0-based; -1 absent (256 = ZL_BERT_MAX_LAYERS) */
    int nl, nh, idx;                   /* the model's layers and heads; the options table */
} zl_lua_mask_spec;
/* Reads and checks the masking options of the table at idx (raises naming fn). */
void zl_lua_mask_read(lua_State *L, int idx, const char *fn, const struct zl_bert_config *c,
                      zl_lua_mask_spec *s);
/* Sets o's zone, mask_layer, masks (mk) and head_mask for a call of B x S, pushing copies
 * of the mask and head mask as tensors (keep them on the stack while o is used). B = 0:
 * one pattern for every feature (the sweep): a tensor must be [S,S] and a function gets
 * batch = nil. */
void zl_lua_mask_apply(lua_State *L, zl_lua_mask_spec *s, int B, int S, const char *fn,
                       struct zl_bert_mask *mk, struct zl_bert_forward_opts *o);

/* ---- ownership (lpin.c; the rule is in docs/architecture.md) ----
 * An owner is a userdata whose box starts with a zl_lua_owner and whose metatable was
 * marked with zl_lua_owner_mark. Its close()/__gc hand the object to zl_lua_owner_close
 * and set the box's pointer to NULL (closed at once: methods raise); the object itself is
 * freed then, or by the last borrower or pin to let go, and never while a function of the
 * binding is running below the close (a callback or finalizer closed it mid-call). */
typedef struct zl_lua_owner {
    int borrowers;          /* borrowers and pins holding the object */
    void *deferred;         /* closed while held: freed when the last one lets go */
    void (*free_fn)(void *);
} zl_lua_owner;
void zl_lua_owner_mark(lua_State *L, int mt);
void zl_lua_owner_close(lua_State *L, zl_lua_owner *o, void *obj, void (*free_fn)(void *));
/* Frees obj with free_fn now, or, when a binding function is running below (a finalizer or
 * a callback closed an object in the middle of that function's call), once it has ended:
 * the interrupted C code may still read obj. Every close()/__gc of an object goes through
 * it (zl_lua_owner_close does for owners). */
void zl_lua_free(lua_State *L, void *obj, void (*free_fn)(void *));
/* Called once by luaopen_zonelab with the module table at idx: records the binding's C
 * functions, so that a free asked for while one of them runs (from a callback, a
 * metamethod or a finalizer) waits until none does (lpin.c). */
void zl_lua_note_functions(lua_State *L, int module);
/* The borrower at stack index `borrower` holds its owner in uservalue uv: borrow counts
 * it once the borrower's C object exists; unborrow right after that object is freed. */
void zl_lua_borrow(lua_State *L, int borrower, int uv);
void zl_lua_unborrow(lua_State *L, int borrower, int uv);
/* Pins the owner at idx until the running C function returns or raises (pushes a
 * to-be-closed slot: push it after any lua_remove/lua_replace/lua_insert of the call). */
void zl_lua_pin(lua_State *L, int idx);

/* ---- classes (lclass.c): the binding's objects ----
 * An object is a full userdata whose box starts with a zl_lua_box: the core object (NULL
 * once closed). One function is close(), __gc and __close: it frees the object once (an
 * owner's free waits for its borrowers: zl_lua_owner_close) and then lets go of the owners
 * it borrows, held in uservalues 1..borrows; __tostring gives closed_text, or what describe
 * pushes while open; __index holds the methods. */
typedef struct zl_lua_box {
    zl_lua_owner own;       /* counts its borrowers when the class is an owner */
    void *obj;              /* the core object; NULL once closed */
} zl_lua_box;
typedef struct zl_lua_class {
    const char *name;                   /* the metatable's name, "zonelab.<module>..." */
    const char *closed_error;           /* argument error of a method on a closed object */
    const char *closed_text;            /* __tostring of a closed object */
    void (*free_fn)(void *);            /* frees obj */
    int owner;                          /* 1: others may borrow it (zl_lua_owner_mark) */
    int borrows;                        /* it borrows the owners in uservalues 1..borrows */
    void (*describe)(lua_State *L, zl_lua_box *b); /* pushes the __tostring of an open object */
} zl_lua_class;
/* Makes c's metatable once (len: __len, may be NULL); pushes nothing. */
void zl_lua_class_open(lua_State *L, const zl_lua_class *c, const luaL_Reg *methods,
                       lua_CFunction len);
/* Pushes a new, empty object of class c: a zeroed box of size bytes (a zl_lua_box first)
 * whose uservalue k = 1..nuv (nuv >= c->borrows) is the value at stack index uv[k - 1]
 * (as it was before the call). Make the core object right after and hand it to
 * zl_lua_class_set (userdata first, so a failing core call leaves nothing behind). */
void *zl_lua_class_new(lua_State *L, const zl_lua_class *c, size_t size, int nuv, const int *uv);
/* Stores obj in the new object on top of the stack and counts its borrows; raises the
 * core's error when obj is NULL. Returns 1 (the object is the result). */
int zl_lua_class_set(lua_State *L, const zl_lua_class *c, void *obj);
/* The box of the open object of class c at idx; raises closed_error when it is closed. */
zl_lua_box *zl_lua_class_check(lua_State *L, int idx, const zl_lua_class *c);

/* Replaces the table at idx by a plain copy of it: every raw pair, plus keys[i] (a
 * NULL-terminated list, may be NULL) read with lua_getfield when absent, so __index
 * still answers. Metamethods run here, once, before the caller takes any pointer;
 * reading the copy afterwards runs no Lua code and the copy keeps its values alive.
 * (Raw pairs: the table's __pairs is not consulted.) */
void zl_lua_snapshot(lua_State *L, int idx, const char *const *keys);

/* Integer argument idx in lo..hi (raises naming what), without overflow. */
int zl_lua_checkint(lua_State *L, int idx, lua_Integer lo, lua_Integer hi, const char *what);
/* A number as an int in lo..hi: raises for NaN, fractions and values out of range
 * (a float-to-int conversion outside int's range is undefined behaviour in C). */
int zl_lua_number_to_int(lua_State *L, double v, int lo, int hi, const char *what);
#define ZL_LUA_INT_LIMIT 1000000000 /* |n| bound for numbers the core range-checks itself */

/* Module openers (one per binding file). */
int zl_lua_open_tensor(lua_State *L);
int zl_lua_open_tfckpt(lua_State *L);
int zl_lua_open_json(lua_State *L);
int zl_lua_open_io(lua_State *L);
int zl_lua_open_pdf(lua_State *L);
int zl_lua_open_bert(lua_State *L);
int zl_lua_open_metrics(lua_State *L);
int zl_lua_open_optim(lua_State *L);

/* The model inside a zonelab.bert userdata (lbert.c); raises when idx is not an open
 * model. The model stays owned by the userdata: keep it on the stack while used. */
#define ZL_BERT_MT "zonelab.bert"
struct zl_bert;
struct zl_bert *zl_lua_checkbert(lua_State *L, int idx);
/* m:loss_and_grads(inputs) / zonelab.optim.loss_and_grads(m, inputs) (loptim.c). */
int zl_lua_optim_loss_and_grads(lua_State *L);
/* The optimizer's options (zl.optim.new, zl.train.new) read into cfg (loptim.c): fields
 * reads them (the caller checks the keys), config checks the keys too. Return -1 when
 * total_steps is absent (the caller raises), 0 otherwise. */
/* The training batch of the (snapshot) table at t, as loss_and_grads and tr:micro_step take
 * it (loptim.c): input_ids (an i32 tensor [batch, seq]; max_seq > 0: its batch at most 2^20
 * and its sequence at most max_seq), the optional [B, S] token_type_ids, input_mask, qmask
 * and pmask, and start_positions and end_positions [B] (sp, ep). Errors read
 * "<arg> (input_ids must be an i32 tensor [batch, seq])". */
struct zl_bert_inputs;
void zl_lua_train_batch(lua_State *L, int t, const char *arg, int max_seq,
                        struct zl_bert_inputs *in, const int32_t **sp, const int32_t **ep);
#define ZL_LUA_OPTIM_KEYS "lr", "total_steps", "warmup_steps", "warmup_proportion", \
    "weight_decay", "clip", "beta1", "beta2", "eps"
struct zl_optim_config;
int zl_lua_optim_fields(lua_State *L, int idx, const char *fn, struct zl_optim_config *cfg);
int zl_lua_optim_config(lua_State *L, int idx, const char *fn, struct zl_optim_config *cfg);
/* Sets the optimizer's settings (lr, total_steps, warmup_steps, weight_decay, clip, beta1,
 * beta2, eps) as fields of the table on top: opt:config(), tr:config(). */
void zl_lua_optim_push_config(lua_State *L, const struct zl_optim_config *c);

/* The communicator inside a zonelab.dist userdata (ldist.c: zl.dist.init()'s second result,
 * zl.dist.world()); raises when idx holds anything else. It lives until exit. */
struct zl_dist;
const struct zl_dist *zl_lua_checkdist(lua_State *L, int idx);

/* The tokenizer inside a zonelab.tokenizer userdata (ltokenizer.c); raises when idx is
 * not an open tokenizer. */
struct zl_tokenizer;
struct zl_tokenizer *zl_lua_checktokenizer(lua_State *L, int idx);

/* The data set / features inside zonelab.squad userdata (lsquad.c); raise when closed
 * (features also when the tokenizer they borrow was closed). */
struct zl_squad;
struct zl_squad_features;
struct zl_squad *zl_lua_checksquad(lua_State *L, int idx);
struct zl_squad_features *zl_lua_checkfeatures(lua_State *L, int idx);
int zl_lua_open_tokenizer(lua_State *L);
int zl_lua_open_squad(lua_State *L);
int zl_lua_open_flows(lua_State *L);
int zl_lua_open_sweep(lua_State *L);
int zl_lua_open_train(lua_State *L);
/* The pretraining corpus inside a zonelab.mlm.corpus userdata (lmlm.c); raises when
 * closed. ids receives [CLS], [SEP], [MASK] and the tokenizer's vocabulary size. */
struct zl_mlm_data;
struct zl_mlm_data *zl_lua_checkcorpus(lua_State *L, int idx, int ids[4]);
int zl_lua_open_mlm(lua_State *L);
int zl_lua_open_dist(lua_State *L);
int zl_lua_open_proc(lua_State *L);

#endif
