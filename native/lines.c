// tend-lines.node: the line kernel of a service's prefixed output (src/log/output.ts).
//
// A Node-API addon, not a libtend function: the router calls it once per pipe read (up to
// ~16,000 times a second per gigabyte), and a Node-API call costs ~0.2 µs where an ffi-rs
// call costs tens of µs. Built by native/build.mjs against the running Node's headers;
// without it the router prefixes in JavaScript (correct, ~2-3 times slower).
//
// prefixLines(src, prefix, dst, offset, count): copies src, whole lines each ending in
// '\n' (a last line without one is copied as it is), into dst from `offset`, each line
// behind `prefix`. Returns the bytes written; when dst is too small, writes nothing
// further and returns -(bytes needed from offset), so the caller can size a buffer by
// calling with an empty dst. count (an Int32Array) gets the number of lines in src.
//
// countLines(src): the number of '\n' in src (the ring of recent lines counts what it keeps).
//
// lastLinesStart(src, n): where the last n lines of src (lines ending in '\n') begin; 0
// when src holds n lines or fewer (the ring copies only the lines it can show).
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include "napi-bytes.h"
#include <stdint.h>
#include <string.h>

static napi_value prefix_lines(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  uint8_t *src, *prefix, *dst;
  size_t len, plen, cap;
  int64_t offset = 0;
  bool is_typed = false;
  napi_typedarray_type count_type;
  size_t count_length;
  void *count_data;
  napi_value count_buffer;
  size_t count_offset;
  if (argc < 5 || !napi_bytes(env, argv[0], &src, &len, 0) || !napi_bytes(env, argv[1], &prefix, &plen, 0) || !napi_bytes(env, argv[2], &dst, &cap, 0) ||
      napi_get_value_int64(env, argv[3], &offset) != napi_ok || offset < 0 || (size_t)offset > cap ||
      napi_is_typedarray(env, argv[4], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[4], &count_type, &count_length, &count_data, &count_buffer, &count_offset) != napi_ok ||
      count_type != napi_int32_array || count_length < 1) {
    napi_throw_type_error(env, NULL, "prefixLines(src: Uint8Array, prefix: Uint8Array, dst: Uint8Array, offset: number, count: Int32Array)");
    return NULL;
  }
  const uint8_t *p = src, *end = src + len;
  uint8_t *o = dst + offset;
  const size_t room = cap - (size_t)offset;
  size_t need = 0;
  int32_t lines = 0;
  while (p < end) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    const uint8_t *stop = nl != NULL ? nl + 1 : end;
    const size_t line = (size_t)(stop - p);
    need += plen + line;
    if (need <= room) {
      memcpy(o, prefix, plen);
      memcpy(o + plen, p, line);
      o += plen + line;
    }
    lines += 1;
    p = stop;
  }
  *(int32_t *)count_data = lines;
  napi_value result;
  napi_create_double(env, need <= room ? (double)need : -(double)need, &result);
  return result;
}

static napi_value count_lines(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  uint8_t *src;
  size_t len;
  if (argc < 1 || !napi_bytes(env, argv[0], &src, &len, 0)) {
    napi_throw_type_error(env, NULL, "countLines(src: Uint8Array)");
    return NULL;
  }
  double lines = 0;
  for (const uint8_t *p = src, *end = src + len; p < end; lines += 1) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL) break;
    p = nl + 1;
  }
  napi_value result;
  napi_create_double(env, lines, &result);
  return result;
}

static napi_value last_lines_start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  uint8_t *src;
  size_t len;
  int64_t n = 0;
  if (argc < 2 || !napi_bytes(env, argv[0], &src, &len, 0) || napi_get_value_int64(env, argv[1], &n) != napi_ok || n < 0) {
    napi_throw_type_error(env, NULL, "lastLinesStart(src: Uint8Array, n: number)");
    return NULL;
  }
  // The last '\n' ends the last line; the n-th one before it ends the line before them.
  size_t start = len;
  for (int64_t k = 0; k < n && start > 0; k++) {
    const uint8_t *nl = start > 1 ? memrchr(src, '\n', start - 1) : NULL;
    start = nl == NULL ? 0 : (size_t)(nl - src) + 1;
  }
  napi_value result;
  napi_create_double(env, (double)start, &result);
  return result;
}

static int export_function(napi_env env, napi_value exports, const char *name, napi_callback function) {
  napi_value fn;
  return napi_create_function(env, name, NAPI_AUTO_LENGTH, function, NULL, &fn) == napi_ok && napi_set_named_property(env, exports, name, fn) == napi_ok;
}

/* native/reader.c: the console reader thread's functions, on the same addon. */
int tend_reader_init(napi_env env, napi_value exports);

NAPI_MODULE_INIT() {
  if (!tend_reader_init(env, exports)) return NULL;
  if (!export_function(env, exports, "prefixLines", prefix_lines) || !export_function(env, exports, "countLines", count_lines) ||
      !export_function(env, exports, "lastLinesStart", last_lines_start)) return NULL;
  return exports;
}
