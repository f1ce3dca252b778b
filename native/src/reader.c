/* Record reader: a poll thread drains the BPF ring buffer, or the per-CPU
 * perf buffers, into batches and hands each batch to JavaScript with one
 * threadsafe-function call. The call blocks while the (small) queue is
 * full, so a slow consumer stalls the poll thread, the kernel buffer fills
 * up, and the kernel counts the records it had no room for (the BPF program
 * for the ring buffer, the perf buffer itself as lost samples): memory here
 * stays bounded. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "handle.h"
#include "reader.h"

#define BATCH_CAP (1u << 20) /* hand over a batch once it holds 1 MiB */
#define QUEUE_MAX 2          /* batches waiting for JS; beyond this the poll thread blocks */
#define POLL_TIMEOUT_MS 50   /* bounds how long close() waits for the poll thread */
/* After a wake-up, let records accumulate this long before draining, so a
 * steady trickle becomes a few large batches instead of one JS call per
 * record (the kernel wakes the reader on each record while it is caught up). */
#define LINGER_NS 2000000
/* Perf buffers: the kernel wakes the reader once a CPU's buffer holds a
 * quarter of its size (not on every sample, which costs the traced
 * program an interrupt per call), and the reader drains them at least
 * this often. */
#define PERF_POLL_MS 20
#define PERF_ORDER_MARGIN_NS 2000000ull
/* Per-CPU batches (bpf/weaver.h) are flushed every FLUSH_MIN_NS while
 * records come, which bounds how long one waits. A round costs tens of µs
 * on this kind of VM (BPF_PROG_TEST_RUN on each CPU: an IPI for every CPU
 * but the reader's), 1.2% of a CPU every 10 ms measured on 2 CPUs: so while
 * rounds find nothing to send, the period doubles up to FLUSH_MAX_NS, and
 * the first record after a quiet spell may wait that long. */
#define FLUSH_MIN_NS 10000000ull
#define FLUSH_MAX_NS 160000000ull
/* A flush finding a program writing a record on that CPU tries again; a
 * record takes well under a microsecond, so this is never reached unless
 * the program was preempted (and then the round is simply incomplete). */
#define FLUSH_TRIES 16

static uint64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t record_space(size_t len) { return 8 + ((len + 7) & ~(size_t)7); }

static void free_bytes(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

/* Runs on the JS thread; env is NULL when the TSFN is torn down with
 * batches still queued (after close): those are dropped. */
static void deliver_batch(napi_env env, napi_value js_cb, void *context, void *data) {
  record_batch *b = data;
  bpf_loader *l = context;
  if (env != NULL) l->delivered = true;
  uint8_t *bytes = b->data;
  size_t used = b->used;
  uint32_t n = b->count;
  uint64_t watermark = b->watermark;
  bool watermarks = l->batching.watermarks;
  free(b);
  /* Counted as delivered before the callback runs: the callback decodes the
   * whole batch synchronously, and nothing reads this in between. */
  atomic_fetch_sub(&l->undelivered, used);
  if (env == NULL || js_cb == NULL || l->closed) {
    free(bytes);
    return;
  }
  napi_value argv[3], undefined, ignored;
  napi_status st;
  if (used == 0) {
    /* Only a new watermark: an empty buffer. */
    free(bytes);
    st = napi_create_buffer(env, 0, NULL, &argv[0]);
    if (st != napi_ok) return;
  } else if ((st = napi_create_external_buffer(env, used, bytes, free_bytes, NULL, &argv[0])) != napi_ok) {
    /* External buffers can be disallowed (pointer-compressed builds): copy. */
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value e;
      napi_get_and_clear_last_exception(env, &e);
    }
    st = napi_create_buffer_copy(env, used, bytes, NULL, &argv[0]);
    free(bytes);
    if (st != napi_ok) return;
  }
  napi_create_uint32(env, n, &argv[1]);
  napi_get_undefined(env, &undefined);
  if (watermarks) napi_create_bigint_uint64(env, watermark, &argv[2]);
  else argv[2] = undefined;
  if (napi_call_function(env, undefined, js_cb, 3, argv, &ignored) != napi_ok) {
    /* An exception thrown by the callback must not vanish: make it uncaught. */
    napi_value e;
    if (napi_get_and_clear_last_exception(env, &e) == napi_ok) napi_fatal_exception(env, e);
  }
}

/* Hands the current batch to JS. Returns false when the TSFN is closing. */
static bool flush_batch(bpf_loader *l) {
  record_batch *b = &l->batch;
  cpu_batching *cb = &l->batching;
  /* JS holds back records timed after the watermark it has: a newer
   * watermark must reach it even with no records. */
  bool new_watermark = cb->watermarks && cb->js_may_hold && cb->watermark > cb->delivered_watermark;
  if (b->count == 0 && !new_watermark) return true;
  b->watermark = cb->watermark;
  record_batch *item = malloc(sizeof *item);
  if (!item) {
    atomic_store(&l->poll_errno, ENOMEM);
    return false;
  }
  /* Wait for the event loop to have come round since the last batch. */
  pthread_mutex_lock(&l->credit_mu);
  while (l->credit == 0 && !atomic_load(&l->stop)) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += POLL_TIMEOUT_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&l->credit_cv, &l->credit_mu, &until);
  }
  bool go = l->credit > 0 && !atomic_load(&l->stop);
  if (go) l->credit--;
  pthread_mutex_unlock(&l->credit_mu);
  if (!go) {
    free(item);
    return false;
  }
  *item = *b;
  memset(b, 0, sizeof *b);
  cb->delivered_watermark = item->watermark;
  cb->js_may_hold = item->count > 0;
  napi_status st = napi_call_threadsafe_function(l->tsfn, item, napi_tsfn_blocking);
  if (st != napi_ok) {
    free(item->data);
    free(item);
    return false;
  }
  return true;
}

/* Appends one record to the current batch; a full batch is flushed first. */
static int append_record(bpf_loader *l, const void *data, size_t len) {
  record_batch *b = &l->batch;
  size_t need = record_space(len);
  if (b->count && b->used + need > BATCH_CAP && !flush_batch(l)) return -ECANCELED;
  if (b->used + need > b->capacity) {
    size_t cap = need > BATCH_CAP ? need : BATCH_CAP;
    uint8_t *grown = realloc(b->data, cap);
    if (!grown) {
      atomic_store(&l->poll_errno, ENOMEM);
      return -ENOMEM;
    }
    b->data = grown;
    b->capacity = cap;
  }
  uint8_t *p = b->data + b->used;
  uint32_t header[2] = {(uint32_t)len, 0};
  memcpy(p, header, 8);
  memcpy(p + 8, data, len);
  memset(p + 8 + len, 0, need - 8 - len);
  b->used += need;
  b->count++;
  atomic_fetch_add(&l->undelivered, need);
  return 0;
}

/* libbpf calls this for each ring-buffer sample during ring_buffer__poll:
 * one record, or a per-CPU batch of them, [u32 kind][u32 records] then
 * per record [u32 length][u32 0][record, padded to 8] (bpf/weaver.h). A
 * frame that claims more bytes than the batch has is handed on as it is,
 * for the decoder to report as malformed. */
static int on_ring_record(void *ctx, void *data, size_t len) {
  bpf_loader *l = ctx;
  const uint8_t *p = data;
  uint32_t kind;
  if (l->batching.flush_fd < 0 || len < 8 || (memcpy(&kind, p, 4), kind != l->batching.kind))
    return append_record(l, data, len);
  size_t at = 8;
  while (at < len) {
    uint32_t rlen;
    if (len - at < 8) return append_record(l, p + at, len - at);
    memcpy(&rlen, p + at, 4);
    if (rlen > len - at - 8) return append_record(l, p + at, len - at);
    int err = append_record(l, p + at + 8, rlen);
    if (err) return err;
    at += 8 + (((size_t)rlen + 7) & ~(size_t)7);
  }
  return 0;
}

/* Runs the flush program once on `cpu`; its return value in *retval. */
static int run_flush(const cpu_batching *cb, int cpu, int *retval) {
  LIBBPF_OPTS(bpf_test_run_opts, opts, .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = (__u32)cpu);
  int err = bpf_prog_test_run_opts(cb->flush_fd, &opts);
  *retval = (int)opts.retval;
  return err;
}

/* Runs the flush program on every CPU, so that every record timed before
 * the round began is in the ring buffer; the watermark moves unless a CPU
 * stayed busy through FLUSH_TRIES tries. Returns whether any CPU sent
 * records. */
static bool flush_cpu_batches(bpf_loader *l) {
  cpu_batching *cb = &l->batching;
  uint64_t began = monotonic_ns();
  bool complete = true, sent = false;
  for (int cpu = 0; cpu < cb->cpus; cpu++) {
    for (int tries = 0;; tries++) {
      int retval;
      /* A CPU the kernel will not run it on (offline: ENXIO) has nothing
       * to send, or nothing this reader can ever send: either way it must
       * not hold the watermark back for good. */
      if (run_flush(cb, cpu, &retval)) break;
      if (retval != 1) {
        sent = sent || retval == 2;
        break;
      }
      if (tries + 1 == FLUSH_TRIES) {
        complete = false;
        break;
      }
    }
  }
  if (complete) cb->watermark = began;
  return sent;
}

/* A perf sample as the kernel writes it with PERF_SAMPLE_RAW; `size`
 * includes the kernel's padding to 8 bytes (the decoder allows it). */
struct perf_raw_sample {
  struct perf_event_header header;
  __u32 size;
  unsigned char data[];
};

/* What the kernel writes when a CPU's buffer had no room for samples. */
struct perf_lost_record {
  struct perf_event_header header;
  __u64 id;
  __u64 lost;
};

/* libbpf calls this for each perf record; it cannot stop the poll, so a
 * failure is remembered and ends the loop after the poll returns. */
static enum bpf_perf_event_ret on_perf_record(void *ctx, int cpu, struct perf_event_header *event) {
  (void)cpu;
  bpf_loader *l = ctx;
  if (event->type == PERF_RECORD_SAMPLE) {
    struct perf_raw_sample *s = (struct perf_raw_sample *)event;
    if (!atomic_load(&l->cancelled) && append_record(l, s->data, s->size)) atomic_store(&l->cancelled, true);
  } else if (event->type == PERF_RECORD_LOST) {
    atomic_fetch_add(&l->lost, ((struct perf_lost_record *)event)->lost);
  }
  return LIBBPF_PERF_EVENT_CONT;
}

/* One wait for records (up to POLL_TIMEOUT_MS). Perf buffers wake the
 * reader only past their watermark, so after every wait, woken or timed
 * out, all of them are drained: records below the watermark wait at most
 * PERF_POLL_MS. Every record a program sent before the drain began is read
 * by it; one timed more than PERF_ORDER_MARGIN_NS before that was sent
 * before it (a program runs for well under a microsecond), which gives JS
 * its ordering watermark (src/reorder.ts). */
static int poll_records(bpf_loader *l) {
  if (l->rb) {
    int timeout = POLL_TIMEOUT_MS;
    if (l->batching.flush_fd >= 0) {
      uint64_t now = monotonic_ns();
      uint64_t due = l->batching.next_flush_ns;
      timeout = due <= now ? 0 : (int)((due - now + 999999) / 1000000);
    }
    return ring_buffer__poll(l->rb, timeout);
  }
  int n = perf_buffer__poll(l->pb, PERF_POLL_MS);
  uint64_t began = monotonic_ns();
  if (n >= 0) n = perf_buffer__consume(l->pb);
  if (n >= 0 && began > PERF_ORDER_MARGIN_NS) l->batching.watermark = began - PERF_ORDER_MARGIN_NS;
  if (atomic_load(&l->cancelled)) return -ECANCELED;
  return n < 0 ? n : 0;
}


static void *poll_main(void *arg) {
  bpf_loader *l = arg;
  while (!atomic_load(&l->stop)) {
    int n = poll_records(l);
    if (n == -EINTR) continue;
    if (n == -ECANCELED) break; /* TSFN closing */
    /* Only the ring buffer wakes us per record; perf buffers return 0 here. */
    if (n > 0 && l->batch.used < BATCH_CAP / 2 && !atomic_load(&l->stop)) {
      struct timespec linger = {0, LINGER_NS};
      nanosleep(&linger, NULL);
      n = ring_buffer__consume(l->rb);
      if (n == -ECANCELED) break;
    }
    cpu_batching *cb = &l->batching;
    if (n > 0 && cb->flush_fd >= 0) {
      /* Records are coming: flush often again. */
      uint64_t soon = monotonic_ns() + FLUSH_MIN_NS;
      cb->period_ns = FLUSH_MIN_NS;
      if (cb->next_flush_ns > soon) cb->next_flush_ns = soon;
    }
    if (n >= 0 && cb->flush_fd >= 0 && monotonic_ns() >= cb->next_flush_ns && !atomic_load(&l->stop)) {
      bool sent = flush_cpu_batches(l);
      n = ring_buffer__consume(l->rb);
      if (sent || n > 0) cb->period_ns = FLUSH_MIN_NS;
      else if (cb->period_ns < FLUSH_MAX_NS) cb->period_ns *= 2;
      cb->next_flush_ns = monotonic_ns() + cb->period_ns;
      if (n == -ECANCELED) break;
    }
    if (n < 0) {
      int expected = 0;
      atomic_compare_exchange_strong(&l->poll_errno, &expected, -n);
      break;
    }
    if (!flush_batch(l)) break;
  }
  free(l->batch.data);
  memset(&l->batch, 0, sizeof l->batch);
  return NULL;
}

static void tsfn_finalized(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  loader_release(data);
}

/* Bytes of records in the per-CPU batches (the `used` word of each CPU's
 * value, past the 8-byte batch header); -1 when they cannot be read. */
static int64_t batched_bytes(bpf_loader *l) {
  cpu_batching *cb = &l->batching;
  if (cb->flush_fd < 0) return 0;
  size_t stride = (cb->value_size + 7) & ~(size_t)7;
  uint8_t *values = malloc(stride * (size_t)cb->cpus);
  uint32_t key = 0;
  if (!values || bpf_map_lookup_elem(cb->map_fd, &key, values)) {
    free(values);
    return -1;
  }
  int64_t sum = 0;
  for (int cpu = 0; cpu < cb->cpus; cpu++) {
    uint32_t used;
    memcpy(&used, values + stride * (size_t)cpu + 8, 4);
    if (used > 8) sum += used - 8;
  }
  free(values);
  return sum;
}

int64_t pending_bytes(bpf_loader *l) {
  if (!l->rb || !l->rb_consumer_pos) return -1;
  int64_t batched = batched_bytes(l);
  if (batched < 0) return -1;
  uint64_t produced = __atomic_load_n(l->rb_producer_pos, __ATOMIC_ACQUIRE);
  uint64_t consumed = __atomic_load_n(l->rb_consumer_pos, __ATOMIC_ACQUIRE);
  return (int64_t)(produced - consumed) + (int64_t)atomic_load(&l->undelivered) + batched;
}

static void free_kernel_reader(bpf_loader *l) {
  if (l->rb_consumer_pos) {
    munmap((void *)l->rb_consumer_pos, l->rb_page_size);
    munmap((void *)l->rb_producer_pos, l->rb_page_size);
    l->rb_consumer_pos = l->rb_producer_pos = NULL;
  }
  if (l->rb) ring_buffer__free(l->rb);
  if (l->pb) perf_buffer__free(l->pb);
  l->rb = NULL;
  l->pb = NULL;
}

/* Check phase of the event loop, after I/O (signals included) ran. */
static void on_loop_turn(uv_check_t *handle) {
  bpf_loader *l = handle->data;
  if (!l->delivered) return;
  l->delivered = false;
  pthread_mutex_lock(&l->credit_mu);
  l->credit = 1;
  pthread_cond_signal(&l->credit_cv);
  pthread_mutex_unlock(&l->credit_mu);
}

static void free_handle(uv_handle_t *h) { free(h); }

static bool start_turn_check(napi_env env, bpf_loader *l) {
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) return false;
  l->turn = calloc(1, sizeof *l->turn);
  if (!l->turn) return false;
  uv_check_init(loop, l->turn);
  l->turn->data = l;
  uv_check_start(l->turn, on_loop_turn);
  uv_unref((uv_handle_t *)l->turn); /* the TSFN keeps the loop alive, not this */
  return true;
}

/* With l->rb or l->pb set up: creates the TSFN and starts the poll thread. */
static napi_status start_poll_thread(napi_env env, bpf_loader *l, napi_value callback) {
  pthread_mutex_init(&l->credit_mu, NULL);
  pthread_cond_init(&l->credit_cv, NULL);
  l->credit = 1;
  l->delivered = false;
  if (!start_turn_check(env, l)) {
    free_kernel_reader(l);
    throw_errno(env, "uv_check_init", ENOMEM, NULL, NULL);
    return napi_pending_exception;
  }
  napi_value name;
  napi_create_string_utf8(env, l->rb ? "bpf-ring-buffer" : "bpf-perf-buffer", NAPI_AUTO_LENGTH, &name);
  napi_status st = napi_create_threadsafe_function(env, callback, NULL, name, QUEUE_MAX, 1, l, tsfn_finalized, l,
                                                   deliver_batch, &l->tsfn);
  if (st != napi_ok) {
    free_kernel_reader(l);
    throw_errno(env, "napi_create_threadsafe_function", EINVAL, NULL, NULL);
    return napi_pending_exception;
  }
  l->owners++; /* released by tsfn_finalized */
  atomic_store(&l->stop, false);
  atomic_store(&l->cancelled, false);
  atomic_store(&l->poll_errno, 0);
  int err = pthread_create(&l->poll_thread, NULL, poll_main, l);
  if (err) {
    napi_release_threadsafe_function(l->tsfn, napi_tsfn_abort);
    l->tsfn = NULL;
    free_kernel_reader(l);
    throw_errno(env, "pthread_create", err, NULL, NULL);
    return napi_pending_exception;
  }
  l->poll_thread_running = true;
  return napi_ok;
}

static struct bpf_map *map_of_type(napi_env env, bpf_loader *l, const char *map_name, enum bpf_map_type type,
                                   const char *operation, const char *type_name) {
  struct bpf_map *map = bpf_object__find_map_by_name(l->obj, map_name);
  if (!map) {
    throw_not_found(env, operation, "map", map_name);
    return NULL;
  }
  if (bpf_map__type(map) != type) {
    char detail[96];
    snprintf(detail, sizeof detail, "map is not a %s", type_name);
    throw_errno(env, operation, EINVAL, detail, NULL);
    return NULL;
  }
  return map;
}

/* No per-CPU batches; `watermarks`: batches handed to JS still carry one. */
static void batching_reset(bpf_loader *l, bool watermarks) {
  memset(&l->batching, 0, sizeof l->batching);
  l->batching.flush_fd = -1;
  l->batching.watermarks = watermarks;
}

/* Finds what the per-CPU batches need (see cpu_batching) and runs one
 * flush, which tells early whether this kernel can run it on each CPU
 * (BPF_F_TEST_RUN_ON_CPU for raw tracepoint programs: Linux 5.10). */
static napi_status batching_setup(napi_env env, bpf_loader *l, const char *batch_map, const char *flush_program,
                                  uint32_t kind) {
  cpu_batching *cb = &l->batching;
  struct bpf_map *map = map_of_type(env, l, batch_map, BPF_MAP_TYPE_PERCPU_ARRAY, "bpf_prog_test_run_opts",
                                    "BPF_MAP_TYPE_PERCPU_ARRAY");
  if (!map) return napi_pending_exception;
  struct bpf_program *prog = bpf_object__find_program_by_name(l->obj, flush_program);
  if (!prog) {
    throw_not_found(env, "bpf_prog_test_run_opts", "program", flush_program);
    return napi_pending_exception;
  }
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) {
    throw_errno(env, "libbpf_num_possible_cpus", -cpus, NULL, NULL);
    return napi_pending_exception;
  }
  cb->flush_fd = bpf_program__fd(prog);
  cb->map_fd = bpf_map__fd(map);
  cb->value_size = bpf_map__value_size(map);
  cb->cpus = cpus;
  cb->kind = kind;
  int retval;
  int err = run_flush(cb, 0, &retval);
  if (err && err != -ENXIO) {
    cb->flush_fd = -1;
    throw_errno(env, "bpf_prog_test_run_opts", -err, "could not run the batch flush program on a CPU", NULL);
    return napi_pending_exception;
  }
  cb->period_ns = FLUSH_MIN_NS;
  cb->next_flush_ns = monotonic_ns() + FLUSH_MIN_NS;
  cb->watermarks = true;
  return napi_ok;
}

napi_status ringbuf_start(napi_env env, bpf_loader *l, const char *map_name, const char *batch_map,
                          const char *flush_program, uint32_t batch_kind, napi_value callback) {
  struct bpf_map *map = map_of_type(env, l, map_name, BPF_MAP_TYPE_RINGBUF, "ring_buffer__new", "BPF_MAP_TYPE_RINGBUF");
  if (!map) return napi_pending_exception;
  batching_reset(l, false);
  if (batch_map && flush_program && batching_setup(env, l, batch_map, flush_program, batch_kind) != napi_ok)
    return napi_pending_exception;
  log_clear();
  l->rb = ring_buffer__new(bpf_map__fd(map), on_ring_record, l, NULL);
  if (!l->rb) {
    int err = errno;
    char *log = log_take();
    throw_errno(env, "ring_buffer__new", err, NULL, log);
    free(log);
    return napi_pending_exception;
  }
  /* libbpf 1.1 has no ring__avail_data_size: map the two position pages
   * read-only ourselves (the kernel allows any read-only mapping). Without
   * them a drain falls back to waiting for a quiet moment. */
  long page = sysconf(_SC_PAGESIZE);
  void *cons = mmap(NULL, page, PROT_READ, MAP_SHARED, bpf_map__fd(map), 0);
  void *prod = mmap(NULL, page, PROT_READ, MAP_SHARED, bpf_map__fd(map), page);
  if (cons != MAP_FAILED && prod != MAP_FAILED) {
    l->rb_consumer_pos = cons;
    l->rb_producer_pos = prod;
    l->rb_page_size = page;
  } else {
    if (cons != MAP_FAILED) munmap(cons, page);
    if (prod != MAP_FAILED) munmap(prod, page);
  }
  return start_poll_thread(env, l, callback);
}

napi_status perfbuf_start(napi_env env, bpf_loader *l, const char *map_name, size_t pages_per_cpu, napi_value callback) {
  struct bpf_map *map =
      map_of_type(env, l, map_name, BPF_MAP_TYPE_PERF_EVENT_ARRAY, "perf_buffer__new", "BPF_MAP_TYPE_PERF_EVENT_ARRAY");
  if (!map) return napi_pending_exception;
  batching_reset(l, true); /* per-CPU buffers: JS puts records back in time order */
  atomic_store(&l->lost, 0);
  log_clear();
  struct perf_event_attr attr = {
      .size = sizeof(struct perf_event_attr),
      .type = PERF_TYPE_SOFTWARE,
      .config = PERF_COUNT_SW_BPF_OUTPUT,
      .sample_type = PERF_SAMPLE_RAW,
      .sample_period = 1,
      .watermark = 1,
      .wakeup_watermark = (__u32)(pages_per_cpu * (size_t)sysconf(_SC_PAGESIZE) / 4),
  };
  l->pb = perf_buffer__new_raw(bpf_map__fd(map), pages_per_cpu, &attr, on_perf_record, l, NULL);
  if (!l->pb) {
    int err = errno;
    char *log = log_take();
    throw_errno(env, "perf_buffer__new", err, NULL, log);
    free(log);
    return napi_pending_exception;
  }
  return start_poll_thread(env, l, callback);
}

void ringbuf_stop(bpf_loader *l) {
  atomic_store(&l->stop, true);
  if (l->turn) {
    /* Wake a poll thread waiting for its credit. */
    pthread_mutex_lock(&l->credit_mu);
    pthread_cond_broadcast(&l->credit_cv);
    pthread_mutex_unlock(&l->credit_mu);
  }
  /* Abort first: a poll thread blocked on a full queue wakes with
   * napi_closing. The TSFN itself is freed later on the JS thread, which
   * is busy here, so the poll thread can still touch it until joined. */
  if (l->tsfn) napi_release_threadsafe_function(l->tsfn, napi_tsfn_abort);
  if (l->poll_thread_running) {
    pthread_join(l->poll_thread, NULL);
    l->poll_thread_running = false;
  }
  l->tsfn = NULL;
  if (l->turn) {
    uv_check_stop(l->turn);
    uv_close((uv_handle_t *)l->turn, free_handle);
    l->turn = NULL;
  }
  free_kernel_reader(l);
}
