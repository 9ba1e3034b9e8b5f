/* zl_lua.h — what the Lua binding files share: the tensor userdata, raising core
 * errors, and the list of per-module openers that luaopen_zonelab calls.
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

/* Raises a Lua error with a formatted message and NO "chunk:line:" prefix: for
 * errors about data (files, fields), where the position in the script is noise.
 * (luaL_error is still right for programming errors such as bad arguments.) */
int zl_lua_raise(lua_State *L, const char *fmt, ...);

/* Pushes a new tensor userdata with an empty slot and returns the slot; fill it
 * right after with a core-created tensor (userdata first, so a failure of the core
 * call leaves nothing dangling). */
zl_tensor **zl_lua_newtensor(lua_State *L);
/* Pushes t as a userdata that owns it (t may be NULL: then raises the core error). */
void zl_lua_pushtensor(lua_State *L, zl_tensor *t);
/* Pushes t borrowing storage from the value at stack index parent (kept alive). */
void zl_lua_pushview(lua_State *L, zl_tensor *t, int parent);
zl_tensor *zl_lua_checktensor(lua_State *L, int idx);
zl_tensor *zl_lua_totensor(lua_State *L, int idx); /* NULL if not a tensor */

/* Pushes a tensor listing (sorts m): a sequence of {name=, dtype=, shape={...}}. */
struct zl_tensor_map;
void zl_lua_push_listing(lua_State *L, struct zl_tensor_map *m);

/* Field k of the table at t as the data of an i32 tensor of n elements (the table keeps
 * it alive); NULL when absent and not required. Errors read "<where> (field k ...)". */
const int32_t *zl_lua_field_i32(lua_State *L, int t, const char *k, int64_t n, int required,
                                const char *where);
/* Field k of the table at t as a number (def when absent); errors read "<what> k must be a number". */
double zl_lua_field_number(lua_State *L, int t, const char *k, double def, const char *what);

/* Reads a shape from a Lua sequence of positive integers; returns ndim. */
int zl_lua_checkshape(lua_State *L, int idx, int64_t *shape);

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
int zl_lua_open_dist(lua_State *L);

#endif
