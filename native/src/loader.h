/* Shared state of one BPF object opened from JavaScript, and the log and
 * error helpers every module uses. Modules with their own header: handle.h
 * (the struct's life), reader.h (record readers), probe.h (feature probes). */
#ifndef BPF_LOADER_H
#define BPF_LOADER_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpf_object;
struct bpf_link;
struct ring_buffer;
struct perf_buffer;

/* A batch of ring-buffer records handed to JavaScript in one call:
 * each record is [u32 len][u32 reserved = 0][len bytes][pad to 8]. */
typedef struct {
  uint8_t *data;
  size_t used;
  size_t capacity;
  uint32_t count;
  /* With per-CPU batches: every record timed before this (CLOCK_MONOTONIC
   * ns) has been handed over, with this batch or before it. */
  uint64_t watermark;
} record_batch;

/* Per-CPU batches written by the BPF programs (bpf/weaver.h), sent to the
 * ring buffer when full or when the reader runs the flush program on each
 * CPU; set up by ringbuf_start when JS passes the batching options. And the
 * ordering watermark that goes with every batch handed to JS, with those
 * batches or with per-CPU perf buffers (perfbuf_start). */
typedef struct {
  int flush_fd;            /* the flush program; -1: records are not batched */
  int map_fd;              /* the per-CPU batch map, for pending_bytes */
  size_t value_size;       /* one CPU's batch, as the map stores it */
  int cpus;                /* possible CPUs */
  uint32_t kind;           /* the first word of a ring sample that is a batch */
  bool watermarks;         /* batches carry a watermark: per-CPU batches, or per-CPU perf buffers */
  uint64_t next_flush_ns;  /* poll thread */
  uint64_t period_ns;      /* poll thread: from FLUSH_MIN_NS, doubling while rounds send nothing */
  uint64_t watermark;      /* poll thread: every record timed before it has been read */
  uint64_t delivered_watermark;
  bool js_may_hold;        /* records went to JS since the last watermark it got */
} cpu_batching;

typedef struct {
  struct bpf_object *obj;
  void *object_bytes; /* libbpf may keep pointers into the ELF image until close */
  bool loaded;
  bool closed;

  /* Link ids are 1-based indexes into this array; a detached slot is NULL. */
  struct bpf_link **links;
  size_t links_len;
  size_t links_cap;
  size_t attached;

  /* uprobe_multi links (one per pid, each covering many offsets) are plain
   * fds: libbpf 1.1 predates them. Their link ids are MULTI_LINK_BASE + i. */
  int *multi_fds;
  size_t multi_len;
  size_t multi_cap;

  /* At most one of rb and pb is set: the reader of the events map. */
  struct ring_buffer *rb;
  struct perf_buffer *pb;
  atomic_bool cancelled;   /* a perf sample could not be queued: end the poll loop */
  atomic_ullong lost;      /* samples the perf buffer had no room for */
  napi_threadsafe_function tsfn;
  pthread_t poll_thread;
  bool poll_thread_running;
  atomic_bool stop;
  atomic_int poll_errno; /* first error the poll thread hit, positive errno */
  record_batch batch;
  /* The ring buffer's consumer and producer positions, mapped read-only,
   * and the bytes of records read from it but not yet handed to JS: what
   * a drain waits for (pending_bytes). */
  volatile const uint64_t *rb_consumer_pos;
  volatile const uint64_t *rb_producer_pos;
  size_t rb_page_size;
  atomic_size_t undelivered;
  cpu_batching batching;

  /* One batch per turn of the event loop: the poll thread hands a batch
   * over only with a credit, which a uv_check handle gives back after the
   * loop has come round (signals, timers and I/O then run between batches,
   * so a flooding program cannot starve Ctrl-C). */
  pthread_mutex_t credit_mu;
  pthread_cond_t credit_cv;
  int credit;
  bool delivered;     /* JS thread: a batch arrived in this turn of the loop */
  uv_check_t *turn;   /* gives the credit back; freed by uv_close */

  napi_env env;
  bool cleanup_hook_registered;
  /* Owners of this struct: the JS handle, and the TSFN until its finalizer
   * has run (it may still hold queued batches pointing here). */
  int owners;
} bpf_loader;

/* libbpf print capture (log.c). */
void log_install(void);
void log_clear(void);
/* Returns a malloc'd copy of what libbpf printed since log_clear(). */
char *log_take(void);

/* Errors (errors.c): throw a JS Error with errno, code, operation and log. */
void throw_errno(napi_env env, const char *operation, int err, const char *detail, const char *log);
/* ENOENT: no map or program (`what`) named `name` in the object. */
void throw_not_found(napi_env env, const char *operation, const char *what, const char *name);
void throw_type(napi_env env, const char *message);
void throw_state(napi_env env, const char *operation, const char *message);

#endif
