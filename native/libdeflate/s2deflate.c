/*
 * A minimal Node-API binding to the system libdeflate (Debian: libdeflate-dev), used by s2change for the zlib
 * streams of TIFF DEFLATE tiles when it is built (npm run build:native); src/io/deflate.ts falls back to node:zlib
 * otherwise. libdeflate works on whole buffers, which is what a TIFF tile is, and is about twice as fast as zlib.
 *
 *   inflate(src: Uint8Array, dst: Uint8Array): number   bytes written into dst; -1 when the data would not fit
 *                                                       (a decompression bomb); throws on corrupt data
 *   deflate(src: Uint8Array, dst: Uint8Array, level: number): number   bytes written; 0 when dst is too small
 *   deflateBound(n: number, level: number): number
 *   collapseRange(fd: number, offset: number, length: number): number
 *                      Linux fallocate(FALLOC_FL_COLLAPSE_RANGE): removes the bytes [offset, offset + length) of an
 *                      open file, moving what follows down without copying it (ext4, xfs; offset and length
 *                      multiples of the block size). 0 on success, else the errno (EOPNOTSUPP, EINVAL, ...;
 *                      ENOSYS off Linux). The COG writer uses it to close the room it reserved for overviews.
 *   mallocTune(arenaMax: number, mmapThreshold: number): number
 *                      glibc mallopt(M_ARENA_MAX) and mallopt(M_MMAP_THRESHOLD): at most arenaMax malloc arenas
 *                      for the threads created afterwards, and blocks of mmapThreshold bytes or more mapped on their
 *                      own (given back to the system when freed). 1 when both took, 0 when one did not, -1 off
 *                      glibc. The block engine calls it before starting its workers (see src/engine/pool.ts).
 *
 * One decompressor and one compressor per level are kept per thread (per Node-API environment), so worker
 * threads never share libdeflate state.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <libdeflate.h>
#include <stdlib.h>
#include <errno.h>
#ifdef __linux__
#include <fcntl.h>
#include <linux/falloc.h>
#endif
#ifdef __GLIBC__
#include <malloc.h>
#endif

typedef struct {
  struct libdeflate_decompressor *d;
  struct libdeflate_compressor *c[13];
} state_t;

static void finalize_state(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  state_t *s = (state_t *)data;
  if (s->d) libdeflate_free_decompressor(s->d);
  for (int i = 0; i < 13; i++) if (s->c[i]) libdeflate_free_compressor(s->c[i]);
  free(s);
}

static state_t *state(napi_env env) {
  state_t *s = NULL;
  napi_get_instance_data(env, (void **)&s);
  return s;
}

static int bytes_of(napi_env env, napi_value v, void **data, size_t *length) {
  napi_typedarray_type type;
  size_t n, offset;
  napi_value ab;
  void *base;
  if (napi_get_typedarray_info(env, v, &type, &n, &base, &ab, &offset) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "expected a Uint8Array");
    return 0;
  }
  *data = base;
  *length = n;
  return 1;
}

static napi_value number(napi_env env, double x) {
  napi_value r;
  napi_create_double(env, x, &r);
  return r;
}

static napi_value js_inflate(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *src, *dst;
  size_t srcLen, dstLen, written = 0;
  if (argc < 2 || !bytes_of(env, argv[0], &src, &srcLen) || !bytes_of(env, argv[1], &dst, &dstLen)) return NULL;
  state_t *s = state(env);
  if (!s->d && !(s->d = libdeflate_alloc_decompressor())) {
    napi_throw_error(env, NULL, "libdeflate: out of memory");
    return NULL;
  }
  size_t used = 0;
  /* _ex: bytes after the zlib stream (padding some writers leave in a tile) are ignored, as zlib does */
  enum libdeflate_result r = libdeflate_zlib_decompress_ex(s->d, src, srcLen, dst, dstLen, &used, &written);
  if (r == LIBDEFLATE_INSUFFICIENT_SPACE) return number(env, -1);
  if (r != LIBDEFLATE_SUCCESS) {
    napi_throw_error(env, NULL, "invalid or corrupt zlib data");
    return NULL;
  }
  return number(env, (double)written);
}

static struct libdeflate_compressor *compressor(napi_env env, int level) {
  state_t *s = state(env);
  if (level < 0 || level > 12) {
    napi_throw_range_error(env, NULL, "libdeflate level must be 0..12");
    return NULL;
  }
  if (!s->c[level] && !(s->c[level] = libdeflate_alloc_compressor(level))) napi_throw_error(env, NULL, "libdeflate: out of memory");
  return s->c[level];
}

static napi_value js_deflate(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *src, *dst;
  size_t srcLen, dstLen;
  int32_t level = 6;
  if (argc < 3 || !bytes_of(env, argv[0], &src, &srcLen) || !bytes_of(env, argv[1], &dst, &dstLen)) return NULL;
  napi_get_value_int32(env, argv[2], &level);
  struct libdeflate_compressor *c = compressor(env, level);
  if (!c) return NULL;
  return number(env, (double)libdeflate_zlib_compress(c, src, srcLen, dst, dstLen));
}

static napi_value js_deflate_bound(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  double n = 0;
  int32_t level = 6;
  napi_get_value_double(env, argv[0], &n);
  if (argc > 1) napi_get_value_int32(env, argv[1], &level);
  struct libdeflate_compressor *c = compressor(env, level);
  if (!c) return NULL;
  return number(env, (double)libdeflate_zlib_compress_bound(c, (size_t)n));
}

static napi_value js_collapse_range(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  int64_t offset = 0, length = 0;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int64(env, argv[1], &offset) != napi_ok
      || napi_get_value_int64(env, argv[2], &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected (fd, offset, length) numbers");
    return NULL;
  }
#ifdef __linux__
  int rc = fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, (off_t)offset, (off_t)length);
  return number(env, rc == 0 ? 0 : errno);
#else
  return number(env, ENOSYS);
#endif
}

static napi_value js_malloc_tune(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t arenas = 0, threshold = 0;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &arenas) != napi_ok || napi_get_value_int32(env, argv[1], &threshold) != napi_ok
      || arenas < 1 || threshold < 1) {
    napi_throw_type_error(env, NULL, "expected (arenaMax, mmapThreshold) positive integers");
    return NULL;
  }
#ifdef __GLIBC__
  int ok = mallopt(M_ARENA_MAX, arenas) == 1 && mallopt(M_MMAP_THRESHOLD, threshold) == 1;
  return number(env, ok ? 1 : 0);
#else
  return number(env, -1);
#endif
}

NAPI_MODULE_INIT() {
  state_t *s = (state_t *)calloc(1, sizeof(state_t));
  napi_set_instance_data(env, s, finalize_state, NULL);
  napi_property_descriptor props[] = {
    { "inflate", NULL, js_inflate, NULL, NULL, NULL, napi_default, NULL },
    { "deflate", NULL, js_deflate, NULL, NULL, NULL, napi_default, NULL },
    { "deflateBound", NULL, js_deflate_bound, NULL, NULL, NULL, napi_default, NULL },
    { "collapseRange", NULL, js_collapse_range, NULL, NULL, NULL, napi_default, NULL },
    { "mallocTune", NULL, js_malloc_tune, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, 5, props);
  return exports;
}
