/* BPF_TRACE_UPROBE_MULTI and its link_create attributes (Linux 6.6), which
 * the system's uapi headers may predate. Used by the loader's attach
 * (main.c) and by the kernel feature probe (probe.c). */
#ifndef BPF_LOADER_UPROBE_MULTI_H
#define BPF_LOADER_UPROBE_MULTI_H

#include <stdint.h>

#define WEAVER_BPF_TRACE_UPROBE_MULTI 48

struct uprobe_multi_link_attr {
  uint32_t prog_fd;
  uint32_t target_fd;
  uint32_t attach_type;
  uint32_t flags;
  uint64_t path;
  uint64_t offsets;
  uint64_t ref_ctr_offsets;
  uint64_t cookies;
  uint32_t cnt;
  uint32_t uprobe_flags;
  uint32_t pid;
  uint32_t pad;
};

#endif
