/* N-API entry points: open/load a BPF object, attach uprobes, read maps,
 * start the ring-buffer reader, close. Each JS-visible function takes the
 * handle returned by openObject() as its first argument. */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "loader.h"
#include "handle.h"
#include "probe.h"
#include "reader.h"
#include "uprobe_multi.h"

/* Tags our externals so that a foreign object passed as a handle is refused. */
static const napi_type_tag HANDLE_TAG = {0x7765617665726270ULL, 0x662d6c6f61646572ULL};

static void loader_close(bpf_loader *l);

static void on_env_cleanup(void *arg) {
  bpf_loader *l = arg;
  l->cleanup_hook_registered = false; /* this hook is being run: don't remove it */
  loader_close(l);
}

/* Close everything; idempotent and safe from finalizers and cleanup hooks. */
static void loader_close(bpf_loader *l) {
  if (l->closed) return;
  l->closed = true;
  ringbuf_stop(l);
  handle_destroy_links(l);
  if (l->obj) bpf_object__close(l->obj);
  l->obj = NULL;
  free(l->object_bytes);
  l->object_bytes = NULL;
  free(l->links);
  l->links = NULL;
  l->links_len = l->links_cap = 0;
  if (l->cleanup_hook_registered) {
    napi_remove_env_cleanup_hook(l->env, on_env_cleanup, l);
    l->cleanup_hook_registered = false;
  }
}

static void on_handle_finalized(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  bpf_loader *l = data;
  loader_close(l);
  loader_release(l);
}

/* ---- argument helpers; each throws and returns false on a bad argument ---- */

/* At least `need` of `want` arguments; the ones not passed are undefined. */
static bool get_some_args(napi_env env, napi_callback_info info, size_t need, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (argc < need) {
    throw_type(env, "missing arguments");
    return false;
  }
  return true;
}

static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  return get_some_args(env, info, want, want, argv);
}

static bool get_loader(napi_env env, napi_value v, bpf_loader **out) {
  bool tagged = false;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_external) napi_check_object_type_tag(env, v, &HANDLE_TAG, &tagged);
  if (!tagged) {
    throw_type(env, "first argument must be a handle from openObject()");
    return false;
  }
  napi_get_value_external(env, v, (void **)out);
  return true;
}

static bool get_open_loader(napi_env env, napi_value v, const char *operation, bpf_loader **out) {
  if (!get_loader(env, v, out)) return false;
  if ((*out)->closed) {
    throw_state(env, operation, "the BPF object is closed");
    return false;
  }
  return true;
}

/* Returns a malloc'd UTF-8 copy, or NULL after throwing. */
static char *get_string(napi_env env, napi_value v, const char *what) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a string", what);
    throw_type(env, msg);
    return NULL;
  }
  char *s = malloc(len + 1);
  if (!s) return NULL;
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static bool get_integer(napi_env env, napi_value v, const char *what, double min, double max, double *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d != (double)(int64_t)d || d < min || d > max) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be an integer from %.0f to %.0f", what, min, max);
    throw_type(env, msg);
    return false;
  }
  *out = d;
  return true;
}

/* A u64 given as a BigInt (a BPF cookie uses all 64 bits, more than a
 * double holds) or as a safe integer. */
static bool get_u64(napi_env env, napi_value v, const char *what, uint64_t *out) {
  napi_valuetype type;
  if (napi_typeof(env, v, &type) == napi_ok && type == napi_number) {
    double d;
    if (!get_integer(env, v, what, 0, 9007199254740991.0, &d)) return false;
    *out = (uint64_t)d;
    return true;
  }
  bool lossless = false;
  if (napi_get_value_bigint_uint64(env, v, out, &lossless) != napi_ok || !lossless) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be a BigInt from 0 to 2^64-1 or a safe integer", what);
    throw_type(env, msg);
    return false;
  }
  return true;
}

static napi_value undefined_value(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static void throw_with_log(napi_env env, const char *operation, int err, const char *detail) {
  char *log = log_take();
  throw_errno(env, operation, err, detail, log);
  free(log);
}

/* ---- exported functions ---- */

/* openObject(bytes: Uint8Array, name: string, kernelBtfPath?: string): handle */
static napi_value js_open_object(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_some_args(env, info, 2, 3, argv)) return NULL;
  bool is_typed = false;
  napi_is_typedarray(env, argv[0], &is_typed);
  if (!is_typed) {
    throw_type(env, "object bytes must be a Uint8Array");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length, offset;
  void *data;
  napi_value arraybuffer;
  napi_get_typedarray_info(env, argv[0], &type, &length, &data, &arraybuffer, &offset);
  if (type != napi_uint8_array) {
    throw_type(env, "object bytes must be a Uint8Array");
    return NULL;
  }
  char *name = get_string(env, argv[1], "object name");
  if (!name) return NULL;
  /* A kernel BTF holding only the types the object's CO-RE relocations
   * name: libbpf then neither reads nor searches the kernel's 5 MB one. */
  char *btf_path = NULL;
  napi_valuetype btf_type = napi_undefined;
  napi_typeof(env, argv[2], &btf_type);
  if (btf_type != napi_undefined) {
    btf_path = get_string(env, argv[2], "kernel BTF path");
    if (!btf_path) {
      free(name);
      return NULL;
    }
  }

  bpf_loader *l = calloc(1, sizeof *l);
  void *copy = malloc(length ? length : 1);
  if (!l || !copy) {
    free(l);
    free(copy);
    free(name);
    free(btf_path);
    throw_errno(env, "bpf_object__open_mem", ENOMEM, NULL, NULL);
    return NULL;
  }
  memcpy(copy, data, length);
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name, .btf_custom_path = btf_path);
  log_clear();
  errno = 0;
  struct bpf_object *obj = bpf_object__open_mem(copy, length, &opts);
  int err = errno;
  free(name);
  free(btf_path); /* libbpf keeps its own copy */
  if (!obj) {
    free(copy);
    free(l);
    throw_with_log(env, "bpf_object__open_mem", err, NULL);
    return NULL;
  }
  l->obj = obj;
  l->object_bytes = copy;
  l->env = env;
  l->owners = 1;
  napi_value handle;
  if (napi_create_external(env, l, on_handle_finalized, NULL, &handle) != napi_ok) {
    bpf_object__close(obj);
    free(copy);
    free(l);
    return NULL;
  }
  napi_type_tag_object(env, handle, &HANDLE_TAG);
  handle_track(l);
  if (napi_add_env_cleanup_hook(env, on_env_cleanup, l) == napi_ok) l->cleanup_hook_registered = true;
  return handle;
}

static struct bpf_map *find_map(napi_env env, bpf_loader *l, napi_value name_value, const char *operation) {
  char *name = get_string(env, name_value, "map name");
  if (!name) return NULL;
  struct bpf_map *map = bpf_object__find_map_by_name(l->obj, name);
  if (!map) throw_not_found(env, operation, "map", name);
  free(name);
  return map;
}

static struct bpf_program *find_program(napi_env env, bpf_loader *l, napi_value name_value, const char *operation) {
  char *name = get_string(env, name_value, "program name");
  if (!name) return NULL;
  struct bpf_program *prog = bpf_object__find_program_by_name(l->obj, name);
  if (!prog) throw_not_found(env, operation, "program", name);
  free(name);
  return prog;
}

/* setMapMaxEntries(h, map: string, entries: number) */
static napi_value js_set_map_max_entries(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  bpf_loader *l;
  double entries;
  if (!get_args(env, info, 3, argv) || !get_open_loader(env, argv[0], "bpf_map__set_max_entries", &l)) return NULL;
  if (!get_integer(env, argv[2], "max entries", 1, 4294967295.0, &entries)) return NULL;
  if (l->loaded) {
    throw_state(env, "bpf_map__set_max_entries", "map sizes can only be set before load");
    return NULL;
  }
  struct bpf_map *map = find_map(env, l, argv[1], "bpf_map__set_max_entries");
  if (!map) return NULL;
  log_clear();
  int err = bpf_map__set_max_entries(map, (uint32_t)entries);
  if (err) {
    throw_with_log(env, "bpf_map__set_max_entries", err, NULL);
    return NULL;
  }
  return undefined_value(env);
}

/* load(h) */
static napi_value js_load(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bpf_loader *l;
  if (!get_args(env, info, 1, argv) || !get_open_loader(env, argv[0], "bpf_object__load", &l)) return NULL;
  if (l->loaded) {
    throw_state(env, "bpf_object__load", "the BPF object is already loaded");
    return NULL;
  }
  log_clear();
  int err = bpf_object__load(l->obj);
  if (err) {
    throw_with_log(env, "bpf_object__load", err, NULL);
    return NULL;
  }
  log_clear();
  l->loaded = true;
  return undefined_value(env);
}

/* programNames(h): string[] ; mapNames(h): string[] */
static napi_value js_program_names(napi_env env, napi_callback_info info) {
  napi_value argv[1], array, name;
  bpf_loader *l;
  if (!get_args(env, info, 1, argv) || !get_open_loader(env, argv[0], "programNames", &l)) return NULL;
  napi_create_array(env, &array);
  uint32_t i = 0;
  struct bpf_program *prog;
  bpf_object__for_each_program(prog, l->obj) {
    napi_create_string_utf8(env, bpf_program__name(prog), NAPI_AUTO_LENGTH, &name);
    napi_set_element(env, array, i++, name);
  }
  return array;
}

static napi_value js_map_names(napi_env env, napi_callback_info info) {
  napi_value argv[1], array, name;
  bpf_loader *l;
  if (!get_args(env, info, 1, argv) || !get_open_loader(env, argv[0], "mapNames", &l)) return NULL;
  napi_create_array(env, &array);
  uint32_t i = 0;
  struct bpf_map *map;
  bpf_object__for_each_map(map, l->obj) {
    napi_create_string_utf8(env, bpf_map__name(map), NAPI_AUTO_LENGTH, &name);
    napi_set_element(env, array, i++, name);
  }
  return array;
}

/* attachUprobe(h, program, binaryPath, fileOffset, pid): linkId
 * Entry probes only: there is deliberately no way to ask for a uretprobe
 * (Go moves goroutine stacks, which breaks return probes). */
static napi_value js_attach_uprobe(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  bpf_loader *l;
  double offset, pid;
  if (!get_args(env, info, 5, argv) || !get_open_loader(env, argv[0], "attach_uprobe", &l)) return NULL;
  if (!get_integer(env, argv[3], "file offset", 0, 9007199254740991.0, &offset)) return NULL;
  if (!get_integer(env, argv[4], "pid", -1, 2147483647.0, &pid)) return NULL;
  if (!l->loaded) {
    throw_state(env, "attach_uprobe", "the BPF object must be loaded before attaching");
    return NULL;
  }
  struct bpf_program *prog = find_program(env, l, argv[1], "attach_uprobe");
  if (!prog) return NULL;
  char *path = get_string(env, argv[2], "binary path");
  if (!path) return NULL;
  napi_value result = NULL;
  if (l->links_len == l->links_cap) {
    size_t cap = l->links_cap ? l->links_cap * 2 : 16;
    struct bpf_link **grown = realloc(l->links, cap * sizeof *grown);
    if (!grown) {
      throw_errno(env, "attach_uprobe", ENOMEM, NULL, NULL);
      goto out;
    }
    l->links = grown;
    l->links_cap = cap;
  }
  /* func_name NULL: the offset is a file offset, used as given. */
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = false, .func_name = NULL);
  log_clear();
  errno = 0;
  struct bpf_link *link = bpf_program__attach_uprobe_opts(prog, (pid_t)pid, path, (size_t)offset, &opts);
  if (!link) {
    throw_with_log(env, "attach_uprobe", errno, NULL);
    goto out;
  }
  l->links[l->links_len++] = link;
  l->attached++;
  napi_create_uint32(env, (uint32_t)l->links_len, &result);
out:
  free(path);
  return result;
}

#define MULTI_LINK_BASE 1073741824.0 /* 2^30: link ids of uprobe_multi links start here */

/* setExpectedAttachType(h, program, type): before load. A program attached
 * through a uprobe_multi link must be loaded expecting one. */
static napi_value js_set_expected_attach_type(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  bpf_loader *l;
  double type;
  if (!get_args(env, info, 3, argv) || !get_open_loader(env, argv[0], "bpf_program__set_expected_attach_type", &l)) return NULL;
  if (!get_integer(env, argv[2], "attach type", 0, 1024, &type)) return NULL;
  if (l->loaded) {
    throw_state(env, "bpf_program__set_expected_attach_type", "attach types can only be set before load");
    return NULL;
  }
  struct bpf_program *prog = find_program(env, l, argv[1], "bpf_program__set_expected_attach_type");
  if (!prog) return NULL;
  int err = bpf_program__set_expected_attach_type(prog, (enum bpf_attach_type)type);
  if (err) {
    throw_with_log(env, "bpf_program__set_expected_attach_type", err, NULL);
    return NULL;
  }
  return undefined_value(env);
}

/* attachUprobeMulti(h, program, binaryPath, offsets[], cookies[], pid): linkId.
 * One link for many probes: the kernel registers and removes them as a
 * batch, so attaching and detaching cost one grace period in all instead
 * of one per probe (measured: 54 probes attach in under 1 ms and detach in
 * 50 ms, against ~80 ms and ~150 ms each as perf-event links). */
static napi_value js_attach_uprobe_multi(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  bpf_loader *l;
  double pid;
  uint32_t n = 0, n_cookies = 0;
  if (!get_args(env, info, 6, argv) || !get_open_loader(env, argv[0], "attach_uprobe_multi", &l)) return NULL;
  if (!get_integer(env, argv[5], "pid", -1, 2147483647.0, &pid)) return NULL;
  if (!l->loaded) {
    throw_state(env, "attach_uprobe_multi", "the BPF object must be loaded before attaching");
    return NULL;
  }
  bool is_array = false;
  napi_is_array(env, argv[3], &is_array);
  if (is_array) napi_get_array_length(env, argv[3], &n);
  bool cookies_array = false;
  napi_is_array(env, argv[4], &cookies_array);
  if (cookies_array) napi_get_array_length(env, argv[4], &n_cookies);
  if (!is_array || !cookies_array || n == 0 || n != n_cookies || n > 1000000) {
    throw_type(env, "offsets and cookies must be arrays of the same, non-zero length");
    return NULL;
  }
  uint64_t *offsets = calloc(n, sizeof *offsets);
  uint64_t *cookies = calloc(n, sizeof *cookies);
  char *path = NULL;
  napi_value result = NULL;
  if (!offsets || !cookies) {
    throw_errno(env, "attach_uprobe_multi", ENOMEM, NULL, NULL);
    goto out;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    double off;
    napi_get_element(env, argv[3], i, &v);
    if (!get_integer(env, v, "file offset", 0, 9007199254740991.0, &off)) goto out;
    napi_get_element(env, argv[4], i, &v);
    if (!get_u64(env, v, "cookie", &cookies[i])) goto out;
    offsets[i] = (uint64_t)off;
  }
  struct bpf_program *prog = find_program(env, l, argv[1], "attach_uprobe_multi");
  if (!prog) goto out;
  path = get_string(env, argv[2], "binary path");
  if (!path) goto out;
  if (l->multi_len == l->multi_cap) {
    size_t cap = l->multi_cap ? l->multi_cap * 2 : 4;
    int *grown = realloc(l->multi_fds, cap * sizeof *grown);
    if (!grown) {
      throw_errno(env, "attach_uprobe_multi", ENOMEM, NULL, NULL);
      goto out;
    }
    l->multi_fds = grown;
    l->multi_cap = cap;
  }
  union {
    struct uprobe_multi_link_attr a;
    char bytes[128]; /* the rest of bpf_attr must be zero */
  } attr;
  memset(&attr, 0, sizeof attr);
  attr.a.prog_fd = (uint32_t)bpf_program__fd(prog);
  attr.a.attach_type = WEAVER_BPF_TRACE_UPROBE_MULTI;
  attr.a.path = (uint64_t)(uintptr_t)path;
  attr.a.offsets = (uint64_t)(uintptr_t)offsets;
  attr.a.cookies = (uint64_t)(uintptr_t)cookies;
  attr.a.cnt = n;
  attr.a.pid = pid < 0 ? 0 : (uint32_t)pid;
  int fd = (int)syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof attr);
  if (fd < 0) {
    throw_errno(env, "attach_uprobe_multi", errno, NULL, NULL);
    goto out;
  }
  l->multi_fds[l->multi_len++] = fd;
  l->attached++;
  napi_create_double(env, MULTI_LINK_BASE + (double)(l->multi_len - 1), &result);
out:
  free(offsets);
  free(cookies);
  free(path);
  return result;
}

/* detach(h, linkId) */
static napi_value js_detach(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bpf_loader *l;
  double id;
  if (!get_args(env, info, 2, argv) || !get_open_loader(env, argv[0], "bpf_link__destroy", &l)) return NULL;
  if (!get_integer(env, argv[1], "link id", 1, 4294967295.0, &id)) return NULL;
  if (id >= MULTI_LINK_BASE) {
    size_t m = (size_t)(id - MULTI_LINK_BASE);
    if (m >= l->multi_len || l->multi_fds[m] < 0) {
      throw_errno(env, "bpf_link__destroy", ENOENT, "no attached link with that id", NULL);
      return NULL;
    }
    close(l->multi_fds[m]);
    l->multi_fds[m] = -1;
    l->attached--;
    return undefined_value(env);
  }
  size_t i = (size_t)id - 1;
  if (i >= l->links_len || !l->links[i]) {
    throw_errno(env, "bpf_link__destroy", ENOENT, "no attached link with that id", NULL);
    return NULL;
  }
  log_clear();
  int err = bpf_link__destroy(l->links[i]);
  l->links[i] = NULL;
  l->attached--;
  if (err) {
    throw_with_log(env, "bpf_link__destroy", err, NULL);
    return NULL;
  }
  return undefined_value(env);
}

/* attachedCount(h): number */
static napi_value js_attached_count(napi_env env, napi_callback_info info) {
  napi_value argv[1], n;
  bpf_loader *l;
  if (!get_args(env, info, 1, argv) || !get_loader(env, argv[0], &l)) return NULL;
  napi_create_uint32(env, l->closed ? 0 : (uint32_t)l->attached, &n);
  return n;
}

/* Cleanup hooks run newest first; re-adding ours after a reader's TSFN was
 * created makes it run before Node tears the TSFN down, so the poll thread
 * is joined while the TSFN is still valid. */
static void reregister_cleanup_hook(napi_env env, bpf_loader *l) {
  if (l->cleanup_hook_registered) napi_remove_env_cleanup_hook(env, on_env_cleanup, l);
  l->cleanup_hook_registered = napi_add_env_cleanup_hook(env, on_env_cleanup, l) == napi_ok;
}

/* startRingBuffer(h, map, onBatch(batch: Buffer, count: number, watermark?: bigint),
 *                 batching?: {batchMap: string, flushProgram: string, batchKind: number}) */
static napi_value js_start_ring_buffer(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  bpf_loader *l;
  napi_valuetype t;
  if (!get_some_args(env, info, 3, 4, argv) || !get_open_loader(env, argv[0], "ring_buffer__new", &l)) return NULL;
  napi_typeof(env, argv[2], &t);
  if (t != napi_function) {
    throw_type(env, "batch callback must be a function");
    return NULL;
  }
  if (!l->loaded) {
    throw_state(env, "ring_buffer__new", "the BPF object must be loaded before reading its ring buffer");
    return NULL;
  }
  if (l->rb || l->pb) {
    throw_state(env, "ring_buffer__new", "a reader is already running for this object");
    return NULL;
  }
  char *map = get_string(env, argv[1], "map name");
  if (!map) return NULL;
  char *batch_map = NULL, *flush_program = NULL;
  double batch_kind = 0;
  napi_typeof(env, argv[3], &t);
  if (t == napi_object) {
    napi_value v;
    bool ok = napi_get_named_property(env, argv[3], "batchMap", &v) == napi_ok && (batch_map = get_string(env, v, "batch map name"));
    ok = ok && napi_get_named_property(env, argv[3], "flushProgram", &v) == napi_ok &&
         (flush_program = get_string(env, v, "flush program name"));
    ok = ok && napi_get_named_property(env, argv[3], "batchKind", &v) == napi_ok &&
         get_integer(env, v, "batch kind", 0, 4294967295.0, &batch_kind);
    if (!ok) {
      free(map);
      free(batch_map);
      free(flush_program);
      return NULL;
    }
  } else if (t != napi_undefined) {
    free(map);
    throw_type(env, "batching options must be an object");
    return NULL;
  }
  napi_status st = ringbuf_start(env, l, map, batch_map, flush_program, (uint32_t)batch_kind, argv[2]);
  free(map);
  free(batch_map);
  free(flush_program);
  if (st != napi_ok) return NULL;
  reregister_cleanup_hook(env, l);
  return undefined_value(env);
}

/* ringBufferError(h): errno the poll thread stopped on, 0 when none */
static napi_value js_ring_buffer_error(napi_env env, napi_callback_info info) {
  napi_value argv[1], n;
  bpf_loader *l;
  if (!get_args(env, info, 1, argv) || !get_loader(env, argv[0], &l)) return NULL;
  napi_create_int32(env, atomic_load(&l->poll_errno), &n);
  return n;
}

/* pendingBytes(h): bytes of records not yet handed to JS; -1 when unknown. */
static napi_value js_pending_bytes(napi_env env, napi_callback_info info) {
  napi_value argv[1], n;
  bpf_loader *l;
  if (!get_args(env, info, 1, argv) || !get_loader(env, argv[0], &l)) return NULL;
  napi_create_int64(env, l->closed ? -1 : pending_bytes(l), &n);
  return n;
}

/* startPerfBuffer(h, map, pagesPerCpu, onBatch(batch: Buffer, count: number, watermark: bigint)) */
static napi_value js_start_perf_buffer(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  bpf_loader *l;
  napi_valuetype t;
  double pages;
  const char *op = "perf_buffer__new";
  if (!get_args(env, info, 4, argv) || !get_open_loader(env, argv[0], op, &l)) return NULL;
  if (!get_integer(env, argv[2], "pages per CPU", 1, 1 << 20, &pages)) return NULL;
  if (((uint64_t)pages & ((uint64_t)pages - 1)) != 0) {
    throw_type(env, "pages per CPU must be a power of two");
    return NULL;
  }
  napi_typeof(env, argv[3], &t);
  if (t != napi_function) {
    throw_type(env, "batch callback must be a function");
    return NULL;
  }
  if (!l->loaded) {
    throw_state(env, op, "the BPF object must be loaded before reading its perf buffer");
    return NULL;
  }
  if (l->rb || l->pb) {
    throw_state(env, op, "a reader is already running for this object");
    return NULL;
  }
  char *map = get_string(env, argv[1], "map name");
  if (!map) return NULL;
  napi_status st = perfbuf_start(env, l, map, (size_t)pages, argv[3]);
  free(map);
  if (st != napi_ok) return NULL;
  reregister_cleanup_hook(env, l);
  return undefined_value(env);
}

/* lostSamples(h): bigint — perf samples the kernel had no room for */
static napi_value js_lost_samples(napi_env env, napi_callback_info info) {
  napi_value argv[1], n;
  bpf_loader *l;
  if (!get_args(env, info, 1, argv) || !get_loader(env, argv[0], &l)) return NULL;
  napi_create_bigint_uint64(env, atomic_load(&l->lost), &n);
  return n;
}

static struct bpf_map *find_u64_array(napi_env env, bpf_loader *l, napi_value name, enum bpf_map_type want,
                                      const char *operation) {
  if (!l->loaded) {
    throw_state(env, operation, "the BPF object must be loaded before reading its maps");
    return NULL;
  }
  struct bpf_map *map = find_map(env, l, name, operation);
  if (!map) return NULL;
  if (bpf_map__type(map) != want || bpf_map__key_size(map) != 4 || bpf_map__value_size(map) != 8) {
    throw_errno(env, operation, EINVAL,
                want == BPF_MAP_TYPE_PERCPU_ARRAY ? "map is not a per-CPU array of u64"
                                                  : "map is not an array of u64",
                NULL);
    return NULL;
  }
  return map;
}

/* sumPerCpuU64(h, map, key): bigint — the element summed over all CPUs */
static napi_value js_sum_percpu_u64(napi_env env, napi_callback_info info) {
  napi_value argv[3], result;
  bpf_loader *l;
  double key_d;
  const char *op = "bpf_map__lookup_elem";
  if (!get_args(env, info, 3, argv) || !get_open_loader(env, argv[0], op, &l)) return NULL;
  if (!get_integer(env, argv[2], "key", 0, 4294967295.0, &key_d)) return NULL;
  struct bpf_map *map = find_u64_array(env, l, argv[1], BPF_MAP_TYPE_PERCPU_ARRAY, op);
  if (!map) return NULL;
  int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) {
    throw_errno(env, "libbpf_num_possible_cpus", -ncpus, NULL, NULL);
    return NULL;
  }
  uint64_t *values = calloc((size_t)ncpus, sizeof *values);
  uint32_t key = (uint32_t)key_d;
  int err = values ? bpf_map__lookup_elem(map, &key, sizeof key, values, (size_t)ncpus * 8, 0) : -ENOMEM;
  if (err) {
    free(values);
    throw_errno(env, op, err, NULL, NULL);
    return NULL;
  }
  uint64_t sum = 0;
  for (int i = 0; i < ncpus; i++) sum += values[i];
  free(values);
  napi_create_bigint_uint64(env, sum, &result);
  return result;
}

/* readArrayU64(h, map, key): bigint */
static napi_value js_read_array_u64(napi_env env, napi_callback_info info) {
  napi_value argv[3], result;
  bpf_loader *l;
  double key_d;
  const char *op = "bpf_map__lookup_elem";
  if (!get_args(env, info, 3, argv) || !get_open_loader(env, argv[0], op, &l)) return NULL;
  if (!get_integer(env, argv[2], "key", 0, 4294967295.0, &key_d)) return NULL;
  struct bpf_map *map = find_u64_array(env, l, argv[1], BPF_MAP_TYPE_ARRAY, op);
  if (!map) return NULL;
  uint32_t key = (uint32_t)key_d;
  uint64_t value = 0;
  int err = bpf_map__lookup_elem(map, &key, sizeof key, &value, sizeof value, 0);
  if (err) {
    throw_errno(env, op, err, NULL, NULL);
    return NULL;
  }
  napi_create_bigint_uint64(env, value, &result);
  return result;
}

/* close(h): idempotent */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bpf_loader *l;
  if (!get_args(env, info, 1, argv) || !get_loader(env, argv[0], &l)) return NULL;
  loader_close(l);
  return undefined_value(env);
}

/* monotonicToRealtimeOffsetNs(): bigint — add to bpf_ktime_get_ns() for epoch ns */
static napi_value js_mono_to_realtime(napi_env env, napi_callback_info info) {
  (void)info;
  struct timespec mono1, real, mono2;
  /* Bracket the realtime read with two monotonic reads and use their
   * midpoint, which halves the error from being preempted in between. */
  clock_gettime(CLOCK_MONOTONIC, &mono1);
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_MONOTONIC, &mono2);
  int64_t m1 = (int64_t)mono1.tv_sec * 1000000000 + mono1.tv_nsec;
  int64_t m2 = (int64_t)mono2.tv_sec * 1000000000 + mono2.tv_nsec;
  int64_t r = (int64_t)real.tv_sec * 1000000000 + real.tv_nsec;
  napi_value result;
  napi_create_bigint_int64(env, r - (m1 + (m2 - m1) / 2), &result);
  return result;
}

/* probeFeature(name): {supported, errno?}. Needs no object; see probe.c. */
static napi_value js_probe_feature(napi_env env, napi_callback_info info) {
  napi_value argv[1], result, v;
  if (!get_args(env, info, 1, argv)) return NULL;
  char *name = get_string(env, argv[0], "feature name");
  if (!name) return NULL;
  probe_result r;
  bool known = probe_feature(name, &r);
  free(name);
  if (!known) {
    throw_type(env, "unknown feature name (ringbuf, run_on_cpu, uprobe_multi, task_btf, bpf_loop)");
    return NULL;
  }
  napi_create_object(env, &result);
  napi_get_boolean(env, r.supported, &v);
  napi_set_named_property(env, result, "supported", v);
  if (r.err) {
    napi_create_int32(env, r.err, &v);
    napi_set_named_property(env, result, "errno", v);
  }
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  static bool process_setup_done;
  if (!process_setup_done) {
    process_setup_done = true;
    log_install();
    handle_destroy_links_at_exit();
  }
  napi_property_descriptor props[] = {
      {"openObject", NULL, js_open_object, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setMapMaxEntries", NULL, js_set_map_max_entries, NULL, NULL, NULL, napi_enumerable, NULL},
      {"load", NULL, js_load, NULL, NULL, NULL, napi_enumerable, NULL},
      {"programNames", NULL, js_program_names, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mapNames", NULL, js_map_names, NULL, NULL, NULL, napi_enumerable, NULL},
      {"attachUprobe", NULL, js_attach_uprobe, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setExpectedAttachType", NULL, js_set_expected_attach_type, NULL, NULL, NULL, napi_enumerable, NULL},
      {"attachUprobeMulti", NULL, js_attach_uprobe_multi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"detach", NULL, js_detach, NULL, NULL, NULL, napi_enumerable, NULL},
      {"attachedCount", NULL, js_attached_count, NULL, NULL, NULL, napi_enumerable, NULL},
      {"startRingBuffer", NULL, js_start_ring_buffer, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ringBufferError", NULL, js_ring_buffer_error, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pendingBytes", NULL, js_pending_bytes, NULL, NULL, NULL, napi_enumerable, NULL},
      {"startPerfBuffer", NULL, js_start_perf_buffer, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lostSamples", NULL, js_lost_samples, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sumPerCpuU64", NULL, js_sum_percpu_u64, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readArrayU64", NULL, js_read_array_u64, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"monotonicToRealtimeOffsetNs", NULL, js_mono_to_realtime, NULL, NULL, NULL, napi_enumerable, NULL},
      {"probeFeature", NULL, js_probe_feature, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
