/* Kernel feature probes (probe.c): each asks the running kernel, by
 * creating the map, loading the program or making the link it is about,
 * instead of guessing from the release number (distributions backport). */
#ifndef BPF_LOADER_PROBE_H
#define BPF_LOADER_PROBE_H

#include <stdbool.h>

typedef struct {
  bool supported;
  /* Positive errno when the probe itself could not run (then supported is
   * false and means "unknown"); 0 for a clear answer. */
  int err;
} probe_result;

/* Probes the feature called `name` (ringbuf, run_on_cpu, uprobe_multi,
 * task_btf, bpf_loop). Returns false for a name it does not know. */
bool probe_feature(const char *name, probe_result *out);

#endif
