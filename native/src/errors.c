/* JS errors carry machine-readable fields so that src/loader.ts can turn
 * them into BpfError / EnvironmentError with a useful next step. */
#define _GNU_SOURCE
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "loader.h"

static void set_string(napi_env env, napi_value obj, const char *key, const char *value) {
  napi_value v;
  if (napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, obj, key, v);
}

/* libbpf's own error numbers (4000+), by name. */
static const char *const LIBBPF_CODES[] = {
    "LIBBPF_ERRNO__LIBELF", "LIBBPF_ERRNO__FORMAT", "LIBBPF_ERRNO__KVERSION", "LIBBPF_ERRNO__ENDIAN",
    "LIBBPF_ERRNO__INTERNAL", "LIBBPF_ERRNO__RELOC", "LIBBPF_ERRNO__LOAD", "LIBBPF_ERRNO__VERIFY",
    "LIBBPF_ERRNO__PROG2BIG", "LIBBPF_ERRNO__KVER", "LIBBPF_ERRNO__PROGTYPE", "LIBBPF_ERRNO__WRNGPID",
    "LIBBPF_ERRNO__INVSEQ", "LIBBPF_ERRNO__NLPARSE",
};

void throw_errno(napi_env env, const char *operation, int err, const char *detail, const char *log) {
  if (err < 0) err = -err;
  if (err == 0) err = EINVAL; /* libbpf sometimes fails without errno; never report 0 */
  const char *code;
  char reason[256];
  if (err >= __LIBBPF_ERRNO__START && err < __LIBBPF_ERRNO__END) {
    code = LIBBPF_CODES[err - __LIBBPF_ERRNO__START];
    libbpf_strerror(err, reason, sizeof reason);
  } else {
    code = strerrorname_np(err);
    snprintf(reason, sizeof reason, "%s", strerror(err));
  }
  char message[1024];
  snprintf(message, sizeof message, "%s failed: %s%s%s", operation, reason,
           detail && *detail ? ": " : "", detail ? detail : "");
  napi_value msg, error, num;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  set_string(env, error, "code", code ? code : "EUNKNOWN");
  set_string(env, error, "operation", operation);
  set_string(env, error, "log", log ? log : "");
  napi_throw(env, error);
}

void throw_not_found(napi_env env, const char *operation, const char *what, const char *name) {
  char detail[300];
  snprintf(detail, sizeof detail, "no %s named '%s' in the object", what, name);
  throw_errno(env, operation, ENOENT, detail, NULL);
}

void throw_type(napi_env env, const char *message) { napi_throw_type_error(env, "ERR_INVALID_ARG", message); }

void throw_state(napi_env env, const char *operation, const char *message) {
  napi_value msg, error, code, op;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_string_utf8(env, "ERR_BPF_STATE", NAPI_AUTO_LENGTH, &code);
  napi_set_named_property(env, error, "code", code);
  napi_create_string_utf8(env, operation, NAPI_AUTO_LENGTH, &op);
  napi_set_named_property(env, error, "operation", op);
  napi_throw(env, error);
}
