/* Record readers (reader.c): the poll thread over the ring buffer or the
 * per-CPU perf buffers. main.c starts and stops them; reader.c needs only
 * handle.h and loader.h in turn. */
#ifndef BPF_LOADER_READER_H
#define BPF_LOADER_READER_H

#include "loader.h"

/* batch_map and flush_program NULL: records are not batched. */
napi_status ringbuf_start(napi_env env, bpf_loader *l, const char *map_name, const char *batch_map,
                          const char *flush_program, uint32_t batch_kind, napi_value callback);
napi_status perfbuf_start(napi_env env, bpf_loader *l, const char *map_name, size_t pages_per_cpu, napi_value callback);
/* Stops the poll thread, releases the TSFN and frees the ring or perf buffer. Idempotent. */
void ringbuf_stop(bpf_loader *l);
/* Bytes of records written by the BPF programs that JS has not received
 * yet (ring buffer only; -1 for perf buffers or no reader). */
int64_t pending_bytes(bpf_loader *l);

#endif
