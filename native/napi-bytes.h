/* The bytes behind a typed array argument, for the addon's functions (lines.c, reader.c). */
#ifndef TEND_NAPI_BYTES_H
#define TEND_NAPI_BYTES_H
#include <node_api.h>
#include <stdint.h>

/* A Uint8Array's bytes (and a Float64Array's, as bytes, when `doubles` is set); 0 for anything else. */
static inline int napi_bytes(napi_env env, napi_value value, uint8_t **data, size_t *length, int doubles) {
    bool is_typed = false;
    if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return 0;
    napi_typedarray_type type;
    napi_value buffer;
    size_t offset;
    void *base;
    if (napi_get_typedarray_info(env, value, &type, length, &base, &buffer, &offset) != napi_ok) return 0;
    if (type != napi_uint8_array && !(doubles && type == napi_float64_array)) return 0;
    *data = base;
    if (type == napi_float64_array) *length *= sizeof(double);
    return 1;
}
#endif
