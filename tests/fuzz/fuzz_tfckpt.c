/* fuzz_tfckpt.c — libFuzzer target: any bytes through the TensorFlow checkpoint index
 * parser (LevelDB footer, block handles, trailers and crc32c, prefix-compressed entries,
 * restart points, BundleHeaderProto / BundleEntryProto varints) must give a map or an
 * error, never a crash or a sanitizer report.
 *
 * Two modes, chosen by the first byte: even — the bytes are the whole .index file; odd —
 * the rest is the CONTENT of the one data block, and the target wraps it into a valid
 * table (block trailer with the right crc32c, an empty metaindex block, an index block
 * pointing at the data block, the footer). Random mutations almost never keep a crc32c
 * right, so without the second mode the entry decoding behind the checks stays unfuzzed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tfckpt.h"

#define TF_MAGIC 0xdb4775248b80fb57ull

static size_t put_varint(unsigned char *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) { p[n++] = (unsigned char)(v | 0x80); v >>= 7; }
    p[n++] = (unsigned char)v;
    return n;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Appends block + trailer (type 0 = uncompressed, masked crc32c of block + type). */
static size_t put_block(unsigned char *out, const unsigned char *blk, size_t n)
{
    memcpy(out, blk, n);
    out[n] = 0;
    put_u32(out + n + 1, zl_tfckpt_crc_mask(zl_tfckpt_crc32c(0, out, n + 1)));
    return n + 5;
}

static zl_tensor_map *parse_wrapped(const unsigned char *blk, size_t n)
{
    unsigned char *f = malloc(n + 256);
    if (!f) return NULL;
    size_t pos = put_block(f, blk, n);
    /* metaindex: an empty block (one restart point at 0) */
    size_t meta_off = pos;
    static const unsigned char empty[8] = {0, 0, 0, 0, 1, 0, 0, 0};
    pos += put_block(f + pos, empty, sizeof empty);
    /* index: one entry, key "\xff" (after every name), value = handle of the data block */
    unsigned char ix[64];
    size_t k = 0;
    unsigned char handle[20];
    size_t hn = put_varint(handle, 0);
    hn += put_varint(handle + hn, n);
    ix[k++] = 0;              /* shared */
    ix[k++] = 1;              /* non-shared key bytes */
    ix[k++] = (unsigned char)hn;
    ix[k++] = 0xff;
    memcpy(ix + k, handle, hn);
    k += hn;
    put_u32(ix + k, 0);       /* restart at 0 */
    put_u32(ix + k + 4, 1);   /* one restart */
    k += 8;
    size_t index_off = pos;
    pos += put_block(f + pos, ix, k);
    /* footer: two handles, zero padding to 40 bytes, magic */
    unsigned char *foot = f + pos;
    memset(foot, 0, 48);
    size_t fn = put_varint(foot, meta_off);
    fn += put_varint(foot + fn, sizeof empty);
    fn += put_varint(foot + fn, index_off);
    fn += put_varint(foot + fn, k);
    for (int i = 0; i < 8; i++) foot[40 + i] = (unsigned char)(TF_MAGIC >> (8 * i));
    pos += 48;
    zl_tensor_map *m = zl_tfckpt_parse_index("fuzz.index", f, pos);
    free(f);
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zl_tensor_map *m;
    if (size > 0 && (data[0] & 1))
        m = parse_wrapped(data + 1, size - 1);
    else
        m = zl_tfckpt_parse_index("fuzz.index", data, size);
    zl_tensor_map_free(m);
    return 0;
}
