/* Kernel feature probes (probe.h). Each one creates the smallest thing
 * that needs the feature and reads the kernel's answer: the errno a kernel
 * without it gives is a "no", any other failure means the probe could not
 * tell (reported with its errno, so weaver can say why it fell back). */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "probe.h"
#include "uprobe_multi.h"

/* The kernel's ENOTSUPP (not in user-space errno.h): BPF_PROG_TEST_RUN on
 * a program type that has no test run. */
#define KERNEL_ENOTSUPP 524

static probe_result yes(void) { return (probe_result){.supported = true, .err = 0}; }
static probe_result no(void) { return (probe_result){.supported = false, .err = 0}; }
static probe_result failed(int err) { return (probe_result){.supported = false, .err = err > 0 ? err : EINVAL}; }

/* r0 = 0; exit: a program that does nothing, for load-only probes. */
static const struct bpf_insn RETURN_ZERO[] = {
    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
    {.code = BPF_JMP | BPF_EXIT},
};
#define RETURN_ZERO_LEN (sizeof RETURN_ZERO / sizeof RETURN_ZERO[0])

/* The BPF ring buffer map (Linux 5.8): created with one page, as libbpf's
 * libbpf_probe_bpf_map_type does; a kernel without the map type says EINVAL.
 * Done here rather than through libbpf, whose answer hides the errno. */
static probe_result probe_ringbuf(void) {
  long page = sysconf(_SC_PAGESIZE);
  int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, NULL, 0, 0, (unsigned)(page > 0 ? page : 4096), NULL);
  if (fd >= 0) {
    close(fd);
    return yes();
  }
  return errno == EINVAL ? no() : failed(errno);
}

/* Running a raw tracepoint program on a chosen CPU (BPF_PROG_TEST_RUN with
 * BPF_F_TEST_RUN_ON_CPU, Linux 5.10), which is how the reader flushes the
 * per-CPU record batches. Older kernels have no test run for raw
 * tracepoints (ENOTSUPP) or refuse the flag (EINVAL). */
static probe_result probe_run_on_cpu(void) {
  int fd = bpf_prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, "weaver_probe", "GPL", RETURN_ZERO, RETURN_ZERO_LEN, NULL);
  if (fd < 0) return failed(errno);
  LIBBPF_OPTS(bpf_test_run_opts, run, .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = 0);
  int err = bpf_prog_test_run_opts(fd, &run);
  int saved = errno;
  close(fd);
  if (err == 0) return yes();
  if (saved == KERNEL_ENOTSUPP || saved == EINVAL || saved == EOPNOTSUPP) return no();
  return failed(saved);
}

/* The file offset of `path`'s ELF entry point (_start): an instruction
 * boundary this process never runs again, so a probe there is harmless.
 * 0 when it cannot be found. */
static uint64_t entry_file_offset(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  uint64_t found = 0;
  Elf64_Ehdr eh;
  if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
      eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(Elf64_Phdr)) {
    for (unsigned i = 0; i < eh.e_phnum && i < 256; i++) {
      Elf64_Phdr ph;
      if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) != (ssize_t)sizeof ph) break;
      if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) && eh.e_entry >= ph.p_vaddr && eh.e_entry < ph.p_vaddr + ph.p_filesz) {
        found = eh.e_entry - ph.p_vaddr + ph.p_offset;
        break;
      }
    }
  }
  close(fd);
  return found;
}

/* uprobe_multi links (Linux 6.6), filtered to one process: a real link on
 * this process's own executable at its entry point, which it never runs
 * again, with its own pid (so the breakpoint goes into no other process).
 * A kernel without them refuses the attach type (EINVAL) or does not know
 * the link's attributes (E2BIG); one built without uprobes says EOPNOTSUPP. */
static probe_result probe_uprobe_multi(void) {
  const char *path = "/proc/self/exe";
  uint64_t offset = entry_file_offset(path);
  if (offset == 0) return failed(ENOEXEC);
  LIBBPF_OPTS(bpf_prog_load_opts, load, .expected_attach_type = WEAVER_BPF_TRACE_UPROBE_MULTI);
  int prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "weaver_probe", "GPL", RETURN_ZERO, RETURN_ZERO_LEN, &load);
  if (prog < 0) return errno == EINVAL || errno == E2BIG ? no() : failed(errno);
  union {
    struct uprobe_multi_link_attr a;
    char bytes[128]; /* the rest of bpf_attr must be zero */
  } attr;
  memset(&attr, 0, sizeof attr);
  attr.a.prog_fd = (uint32_t)prog;
  attr.a.attach_type = WEAVER_BPF_TRACE_UPROBE_MULTI;
  attr.a.path = (uint64_t)(uintptr_t)path;
  attr.a.offsets = (uint64_t)(uintptr_t)&offset;
  attr.a.cnt = 1;
  attr.a.pid = (uint32_t)getpid();
  int link = (int)syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof attr);
  int saved = errno;
  close(prog);
  if (link >= 0) {
    close(link);
    return yes();
  }
  if (saved == EINVAL || saved == E2BIG || saved == EOPNOTSUPP) return no();
  return failed(saved);
}

/* A helper for uprobe programs (BPF_PROG_TYPE_KPROBE), by libbpf's
 * libbpf_probe_bpf_helper: it loads a call to the helper and reads the
 * verifier's "invalid func"/"unknown func" as a "no". It takes any other
 * failed load (EPERM too) for a "yes", so a program without the helper is
 * loaded first: if even that fails, the probe cannot tell. */
static probe_result probe_helper(enum bpf_func_id helper) {
  int fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "weaver_probe", "GPL", RETURN_ZERO, RETURN_ZERO_LEN, NULL);
  if (fd < 0) return failed(errno);
  close(fd);
  int r = libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, helper, NULL);
  if (r == 1) return yes();
  if (r == 0) return no();
  return failed(-r);
}

bool probe_feature(const char *name, probe_result *out) {
  if (strcmp(name, "ringbuf") == 0) *out = probe_ringbuf();
  else if (strcmp(name, "run_on_cpu") == 0) *out = probe_run_on_cpu();
  else if (strcmp(name, "uprobe_multi") == 0) *out = probe_uprobe_multi();
  else if (strcmp(name, "task_btf") == 0) *out = probe_helper(BPF_FUNC_get_current_task_btf);
  else if (strcmp(name, "bpf_loop") == 0) *out = probe_helper(BPF_FUNC_loop);
  else return false;
  return true;
}
