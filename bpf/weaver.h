/* Shared by every generated weaver program (see src/codegen.ts).
 *
 * The record layouts are not declared here: src/record.ts describes them
 * once, and the generator emits the C structs from that description before
 * including this file, so the TypeScript decoder and the BPF side cannot
 * drift apart.
 *
 * Rules for everything here: read user memory only (never write it), bound
 * every read and every loop, keep maps bounded.
 */
#ifndef WEAVER_H
#define WEAVER_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __s32 s32;
typedef __u64 u64;
typedef __s64 s64;

/* The kernel's x86-64 register frame, as a uprobe program sees it. */
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

/* Only the kernel fields weaver reads; CO-RE relocates them against the
 * running kernel's BTF, so no vmlinux.h is needed. */
struct thread_struct {
	unsigned long fsbase;
} __attribute__((preserve_access_index));

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
	char comm[16];
	struct thread_struct thread;
} __attribute__((preserve_access_index));

/* Linux 5.11+ hands a uprobe program the current task as a BTF pointer, so
 * its fields are plain loads checked by the verifier, instead of a helper
 * call for each (bpf_get_current_comm; a bpf_probe_read_kernel for each
 * link of task->real_parent->tgid and for thread.fsbase). Measured with
 * kernel.bpf_stats_enabled on a record of main.f(int, string)
 * (bench/program-cost.mjs): 12-18 ns less a call, leaving ppid and comm at
 * 2-3 ns, less than a per-process cache lookup would cost. libbpf resolves
 * this check against the kernel's BTF at load, and the verifier drops the
 * branch not taken, so older kernels load the helper path. The generator
 * defines WEAVER_TASK_BTF 0 when the kernel's probe finds no such helper
 * for uprobe programs (src/features.ts task_btf), and so can a test, to
 * run that path here. */
#ifndef WEAVER_TASK_BTF
#define WEAVER_TASK_BTF bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)
#endif

/* A trace's programs may be compiled in several units, then joined by
 * libbpf's static linker (src/compile.ts): what every unit defines the same
 * (maps, global functions, readers) is weak, so the linker keeps one. */
#define WEAVER_SHARED __attribute__((weak))

/* A map lookup every shape makes goes through a small static subprogram
 * marked with this, so a program holds one call site of it rather than one
 * per shape. The verifier inlines each lookup of an array or hash map by
 * patching the program at that site, and Linux 6.18 copies the whole
 * program for every patch (vrealloc in bpf_patch_insn_data): the 2,300
 * lookups inlined into the shapes of 1,063 traced functions made loading
 * spend ~1 s in memcpy (perf record of the load, bench/README.md §3b). A
 * static subprogram returning the map value is checked in its caller's
 * context, so the pointer keeps its type; the call costs a few ns.
 * Weak and hidden rather than static: libbpf verifies a hidden function as
 * a static one, and the static linker keeps one copy for all compile units.
 * A static function is a copy of each unit, and a dispatcher reaches the
 * copies of every unit whose weak readers the linker kept (3 units of 8
 * such functions counted 16 more of the kernel's 256 subprograms). */
#define WEAVER_LOOKUP_SITE __attribute__((noinline, weak, visibility("hidden")))

/* bpf_loop callbacks: one copy for all units, as WEAVER_LOOKUP_SITE, but
 * libbpf takes a function's address only of a strong symbol: defined in the
 * first unit, declared in the others. */
#define WEAVER_CALLBACK __attribute__((noinline, visibility("hidden")))

char LICENSE[] SEC("license") WEAVER_SHARED = "GPL";

/* Records go to user space through one map, weaver_events. Programs take a
 * record with WEAVER_RESERVE(size) and hand it over with
 * WEAVER_SUBMIT(ctx, rec, size), so the transport is chosen here, by a
 * #define the generator emits before including this file, without touching
 * the generated code. */
#ifdef WEAVER_TRANSPORT_PERF
/* Per-CPU perf buffers (kernels before 5.8, or --transport perf). A record
 * is built in a per-CPU scratch area and copied out by
 * bpf_perf_event_output; the copy is the price of this transport. A record
 * the perf buffer has no room for is counted here, as a failed ring-buffer
 * reservation is: the kernel's own lost-sample report reaches the reader
 * only when that CPU's buffer next has room, which may be never. A per-CPU
 * map value is at most 32 KiB, which bounds a record's size. */
#define WEAVER_PERF_MAX_RECORD 32768

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} weaver_events SEC(".maps") WEAVER_SHARED;

struct weaver_scratch {
	u8 bytes[WEAVER_PERF_MAX_RECORD];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct weaver_scratch);
} weaver_scratch SEC(".maps") WEAVER_SHARED;

/* Programs on this CPU holding the scratch area. On a preemptible kernel a
 * uprobe program can be preempted and another one run on the same CPU,
 * which would write its record over the first one's: the second one is
 * dropped (and counted) instead. An atomic add and a read, not a fetching
 * atomic: those need Linux 5.12, and this transport is for kernels before
 * 5.8 (where BPF programs are not preempted anyway). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u32);
} weaver_scratch_users SEC(".maps") WEAVER_SHARED;

/* One lookup site each: see WEAVER_LOOKUP_SITE below. */
WEAVER_LOOKUP_SITE u32 *weaver_scratch_users_here(void)
{
	u32 key = 0;
	return bpf_map_lookup_elem(&weaver_scratch_users, &key);
}

WEAVER_LOOKUP_SITE u8 *weaver_scratch_here(void)
{
	u32 key = 0;
	return (u8 *)bpf_map_lookup_elem(&weaver_scratch, &key);
}

static __always_inline u8 *weaver_perf_scratch(void)
{
	u32 *users = weaver_scratch_users_here();
	if (!users)
		return 0;
	__sync_fetch_and_add(users, 1);
	if (*users != 1) {
		__sync_fetch_and_add(users, -1);
		return 0;
	}
	u8 *rec = weaver_scratch_here();
	if (!rec)
		__sync_fetch_and_add(users, -1);
	return rec;
}

static __always_inline void weaver_perf_release(void)
{
	u32 *users = weaver_scratch_users_here();
	if (users)
		__sync_fetch_and_add(users, -1);
}

#define WEAVER_RESERVE(size) weaver_perf_scratch()
#define WEAVER_SUBMIT(ctx, rec, size)                                                            \
	do {                                                                                     \
		if (bpf_perf_event_output((ctx), &weaver_events, BPF_F_CURRENT_CPU, (rec), (size))) \
			weaver_count_drop();                                                     \
		weaver_perf_release();                                                           \
	} while (0)
#else
/* The BPF ring buffer (the default), written in per-CPU batches.
 *
 * A record of at most WEAVER_BATCH_MAX_RECORD bytes is built in its CPU's
 * batch, a per-CPU map value that stays in the cache, and the full batch
 * goes to the ring buffer with one bpf_ringbuf_output: one large copy
 * instead of a record's scattered stores into ring memory that is new to
 * the cache on nearly every call. Measured on main.f(int, string)'s
 * 160-byte record (bench/README.md section 1): about 60 ns less CPU per
 * call than reserving each record in the ring buffer.
 *
 * A batch that stops filling is sent by weaver_flush below, which the
 * reader runs on every CPU (BPF_PROG_TEST_RUN on that CPU: a uprobe
 * program cannot use bpf_timer) every 10 ms while records come, less often
 * while none do (native/src/reader.c), so a record waits at most that
 * long. Batches from different CPUs arrive in flush order, not call order:
 * the reader sorts records by their timestamp up to the time its last
 * complete flush began (src/reorder.ts).
 *
 * A ring-buffer sample is then either one record (kind 1 or 2, reserved in
 * place: larger records) or a batch: [u32 WEAVER_KIND_BATCH][u32 records],
 * then per record [u32 length][u32 0][record, padded to 8 bytes]. The
 * ring buffer's size in bytes is set by the loader before load
 * (--buffer-size). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} weaver_events SEC(".maps") WEAVER_SHARED;

/* A batch is sent once the next record would take it past
 * WEAVER_BATCH_SEND_AT bytes, which the generator sets: 8 KiB (larger
 * batches cost no less: 8 KiB against 2 and 32 KiB in
 * bench/program-cost.mjs), or a quarter of a smaller ring buffer, so that a
 * batch always fits in it. WEAVER_BATCH_BYTES bounds both. */
#define WEAVER_BATCH_BYTES 8192
#ifndef WEAVER_BATCH_SEND_AT
#error "the generator defines WEAVER_BATCH_SEND_AT"
#endif
/* The generator sets the largest batched record (src/codegen.ts
 * RING_BATCH_MAX_RECORD), 0 when records are not batched. */
#ifndef WEAVER_BATCH_MAX_RECORD
#error "the generator defines WEAVER_BATCH_MAX_RECORD"
#endif
#define WEAVER_FRAME_BYTES(size) (8 + (((size) + 7) & ~7))
#ifndef WEAVER_KIND_BATCH
#error "the generator defines WEAVER_KIND_BATCH from src/record.ts"
#endif

struct weaver_batch {
	/* A program on this CPU is writing a record: set from reserve to
	 * submit. The flush (an interrupt on this CPU) skips the batch then,
	 * and on a preemptible kernel another program finding it set drops
	 * its record (counted) rather than write into the same bytes. */
	u32 busy;
	u32 count;
	/* Bytes of data in use: the 8-byte batch header, then frames. */
	u32 used;
	u32 pad;
	/* Twice the batch: an offset below WEAVER_BATCH_BYTES plus a frame of
	 * at most WEAVER_BATCH_MAX_RECORD bytes always fits, which is what the
	 * verifier checks. (A batch holds at least one record, so with a small
	 * WEAVER_BATCH_SEND_AT one record can take it past that.) */
	u8 data[2 * WEAVER_BATCH_BYTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct weaver_batch);
} weaver_batches SEC(".maps") WEAVER_SHARED;

static __always_inline void weaver_count_drops(u64 n);

WEAVER_LOOKUP_SITE struct weaver_batch *weaver_batch_here(void)
{
	u32 key = 0;
	return bpf_map_lookup_elem(&weaver_batches, &key);
}

/* Sends this CPU's batch and empties it; records the ring buffer has no
 * room for are counted as dropped. A global function, checked once by the
 * verifier rather than inlined into every traced function's program (it
 * made loading 1000 of them take 0.66 s instead of 0.42). Returns whether
 * it sent records. */
WEAVER_SHARED __attribute__((noinline)) int weaver_batch_send(void)
{
	struct weaver_batch *b = weaver_batch_here();
	if (!b)
		return 0;
	u32 used = b->used;
	int sent = 0;
	if (used > 8 && used <= WEAVER_BATCH_BYTES) {
		*(u32 *)b->data = WEAVER_KIND_BATCH;
		*(u32 *)(b->data + 4) = b->count;
		/* The mask changes nothing; it tells the verifier the size's bound
		 * (the empty asm keeps clang from dropping it). */
		u64 size = used;
		asm volatile("" : "+r"(size));
		size &= 2 * WEAVER_BATCH_BYTES - 1;
		if (bpf_ringbuf_output(&weaver_events, b->data, size, 0))
			weaver_count_drops(b->count);
		sent = 1;
	}
	b->used = 8;
	b->count = 0;
	return sent;
}

/* A record of `size` bytes in this CPU's batch; 0 when the batch is busy.
 * The frame is taken here, so the submit only clears `busy`. Inlined: out
 * of line it cost every traced call ~40 ns more of BPF time
 * (bench/overhead.mjs, 676 against 634 ns a run), for ~15% of clang's
 * time on a large trace. */
static __always_inline u8 *weaver_batch_reserve(u32 size)
{
	struct weaver_batch *b = weaver_batch_here();
	if (!b || b->busy)
		return 0;
	b->busy = 1;
	asm volatile("" ::: "memory");
	u32 used = b->used;
	if (used < 8 || used + WEAVER_FRAME_BYTES(size) > WEAVER_BATCH_SEND_AT) {
		weaver_batch_send();
		used = 8;
	}
	/* Changes nothing either, and is what the verifier bounds the frame by. */
	u64 at = used;
	asm volatile("" : "+r"(at));
	at &= WEAVER_BATCH_BYTES - 1;
	u8 *frame = b->data + at;
	*(u32 *)frame = size;
	*(u32 *)(frame + 4) = 0;
	b->used = at + WEAVER_FRAME_BYTES(size);
	b->count++;
	return frame + 8;
}

static __always_inline void weaver_batch_release(void)
{
	struct weaver_batch *b = weaver_batch_here();
	if (!b)
		return;
	asm volatile("" ::: "memory");
	b->busy = 0;
}

/* Defined once, in the first compile unit: a program cannot be weak. */
#ifndef WEAVER_SECONDARY_UNIT
/* Run by the reader on each CPU (BPF_PROG_TEST_RUN with
 * BPF_F_TEST_RUN_ON_CPU), never attached. Returns 1 when a program on this
 * CPU is writing a record (the reader tries again), 2 when it sent records,
 * 0 when the batch was empty (the reader then flushes less often). */
SEC("raw_tp")
int weaver_flush(void *ctx)
{
	struct weaver_batch *b = weaver_batch_here();
	if (!b)
		return 0;
	if (b->busy)
		return 1;
	return weaver_batch_send() ? 2 : 0;
}
#endif

/* The size is a constant in every program, so each uses one path. */
#define WEAVER_RESERVE(size)                                                                     \
	((size) <= WEAVER_BATCH_MAX_RECORD ? weaver_batch_reserve(size)                          \
					   : (u8 *)bpf_ringbuf_reserve(&weaver_events, (size), 0))
#define WEAVER_SUBMIT(ctx, rec, size)                                                            \
	do {                                                                                     \
		if ((size) <= WEAVER_BATCH_MAX_RECORD)                                           \
			weaver_batch_release();                                                  \
		else                                                                             \
			bpf_ringbuf_submit((rec), 0);                                            \
	} while (0)
#endif

/* Loads a word of a record just reserved, one per cache line it spans
 * (src/codegen.ts emits them before anything else is written). Ring-buffer
 * memory is new to the cache on most calls. Measured (bench/program-cost.mjs)
 * on main.f(int, string)'s 160-byte record: 35-40 ns less CPU per call,
 * while the program's own run time does not change. Most likely because
 * stores leave x86's store buffer in order, fetching a record's lines one
 * after the other once the program has returned, while loads fetch them
 * all at once, during the program's helper calls. */
#define WEAVER_WARM(rec, off) ((void)*(volatile u64 *)((rec) + (off)))

/* Records that did not fit in the ring buffer, counted per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} weaver_drops SEC(".maps") WEAVER_SHARED;

WEAVER_LOOKUP_SITE u64 *weaver_drops_here(void)
{
	u32 key = 0;
	return bpf_map_lookup_elem(&weaver_drops, &key);
}

static __always_inline void weaver_count_drops(u64 count)
{
	u64 *n = weaver_drops_here();
	if (n)
		__sync_fetch_and_add(n, count);
}

static __always_inline void weaver_count_drop(void)
{
	weaver_count_drops(1);
}

/* The goroutine pointer g: R14 under the register ABI; under the stack ABI
 * at fs_base - 8 (thread-local storage of a statically linked Go program). */
static __always_inline u64 weaver_g_register_abi(struct pt_regs *ctx)
{
	return ctx->r14;
}

/* Global, like weaver_task_fields_btf below: see there why. */
WEAVER_SHARED __attribute__((noinline)) u64 weaver_fsbase_btf(void)
{
	return bpf_get_current_task_btf()->thread.fsbase;
}

static __always_inline u64 weaver_g_stack_abi(void)
{
	u64 fsbase;
	if (WEAVER_TASK_BTF)
		fsbase = weaver_fsbase_btf();
	else
		fsbase = BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), thread.fsbase);
	u64 g = 0;
	if (fsbase)
		bpf_probe_read_user(&g, sizeof(g), (void *)(fsbase - 8));
	return g;
}

static __always_inline u64 weaver_goid(u64 g, u32 goid_offset)
{
	u64 goid = 0;
	if (g && goid_offset)
		bpf_probe_read_user(&goid, sizeof(goid), (void *)(g + goid_offset));
	return goid;
}

/* The ids, the parent's pid and the thread's name through the BTF task pointer.
 * A global function, not inlined: the verifier checks a global function
 * once per program, not at every call site, and each load through the task
 * pointer costs it a walk of task_struct's BTF. Inlined into every traced
 * function, those walks made loading 1000 traced functions take 0.70 s
 * instead of 0.11 s (bpftool prog loadall); one call per record costs a
 * few ns. The verifier cannot assume a global function's pointer argument
 * is set, hence the check. */
WEAVER_SHARED __attribute__((noinline)) int weaver_task_fields_btf(struct weaver_header *h)
{
	if (!h)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	/* What bpf_get_current_pid_tgid gives (ids in the initial pid
	 * namespace), one helper call less. */
	h->pid = task->tgid;
	h->tid = task->pid;
	h->ppid = task->real_parent->tgid;
	/* Two 8-byte loads, and a NUL at the end as bpf_get_current_comm
	 * writes, should a kernel's comm ever be longer than 16 bytes. */
	*(u64 *)h->comm = *(u64 *)&task->comm[0];
	*(u64 *)(h->comm + 8) = *(u64 *)&task->comm[8];
	h->comm[15] = 0;
	return 0;
}

/* The process and thread ids, the parent's pid and the thread's name
 * (comm), for the header. */
static __always_inline void weaver_task_fields(struct weaver_header *h)
{
	if (WEAVER_TASK_BTF) {
		weaver_task_fields_btf(h);
	} else {
		u64 pid_tgid = bpf_get_current_pid_tgid();
		h->pid = pid_tgid >> 32;
		h->tid = (u32)pid_tgid;
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		h->ppid = BPF_CORE_READ(task, real_parent, tgid);
		bpf_get_current_comm(h->comm, sizeof(h->comm));
	}
}

/* A slot is [u32 bytes copied][s32 error][data…]: copy at most `cap` bytes
 * of user memory from `ptr`, `len` being what Go says the length is. The
 * decoder compares `bytes copied` with Go's length to mark truncation. */
static __always_inline void weaver_read_slot(u8 *slot, u32 cap, u64 ptr, s64 len)
{
	u64 n = 0;
	long err = 0;
	if (ptr && len > 0) {
		n = (u64)len;
		if (n > cap)
			n = cap;
		err = bpf_probe_read_user(slot + 8, n, (void *)ptr);
		if (err)
			n = 0;
	}
	*(u32 *)slot = (u32)n;
	*(s32 *)(slot + 4) = (s32)err;
}

/* A func value's code pointer: the first word of the funcval `fv` points
 * to, into an 8-byte slot, less the load bias (0 unless PIE), so that user
 * space names it from the binary's link-time function table. */
static __always_inline void weaver_read_code(u8 *slot, u64 fv, u64 bias)
{
	weaver_read_slot(slot, 8, fv, 8);
	if (*(u32 *)slot == 8)
		*(u64 *)(slot + 8) -= bias;
}

/* Fills the header of a record; `g` is the goroutine pointer (0 when
 * unknown), `kind_func` the record kind in the high 32 bits and the
 * function id in the low ones (a BPF call takes five arguments at most).
 * Not inlined: every shape calls it, and inlined its CO-RE reads and
 * helper calls were half of clang's work on each shape (1.8 of 3.6 s for
 * 242 shapes); the call costs a few ns. Global, so the verifier checks it
 * once per program rather than at every call. WEAVER_GOID_OFFSET comes
 * from the generator. */
#ifndef WEAVER_GOID_OFFSET
#error "the generator defines WEAVER_GOID_OFFSET"
#endif
WEAVER_SHARED __attribute__((noinline)) int weaver_fill_header_at(struct weaver_header *h, u64 kind_func, struct pt_regs *ctx, u64 g)
{
	if (!h)
		return 0;
	h->kind = kind_func >> 32;
	h->func_id = (u32)kind_func;
	h->ktime_ns = bpf_ktime_get_ns();
	h->flags = 0;
	h->goid = weaver_goid(g, WEAVER_GOID_OFFSET);
	h->sp = ctx->sp;
	weaver_task_fields(h);
	return 0;
}

#ifdef WEAVER_STACK_DEPTH
/* --stack: the Go call stack at the probe, by frame pointers (Go keeps them
 * on amd64 since 1.7). The probe sits before the traced function's prologue
 * saves RBP (src/x86/prologue.ts moves it past no write of RSP or RBP), so
 * [sp] is the return address into the caller and RBP the caller's frame:
 * [rbp] the caller's caller's frame, [rbp+8] the return address into it.
 * The walk stops at WEAVER_STACK_DEPTH addresses, at a frame it cannot
 * read, and at a frame pointer that does not move up the stack (0 at the
 * bottom of a goroutine's stack, or a function that keeps none). Global:
 * the verifier checks the loop once, not in every shape. */
WEAVER_SHARED __attribute__((noinline)) int weaver_stack_walk(struct weaver_stack_tail *t, struct pt_regs *ctx)
{
	if (!t)
		return 0;
	u64 fp = ctx->bp;
	u64 sp = ctx->sp;
	u32 n = 0;
	t->ip = ctx->ip;
	t->reserved = 0;
	if (bpf_probe_read_user(&t->pcs[0], sizeof(u64), (void *)sp) == 0 && t->pcs[0]) {
		n = 1;
		for (int i = 1; i < WEAVER_STACK_DEPTH; i++) {
			u64 frame[2];
			if (fp <= sp || bpf_probe_read_user(frame, sizeof(frame), (void *)fp) || !frame[1])
				break;
			t->pcs[i] = frame[1];
			n++;
			sp = fp;
			fp = frame[0];
		}
	}
	t->count = n;
	return 0;
}
#endif

#define weaver_fill_header(h, kind, func_id, ctx, g) weaver_fill_header_at((h), ((u64)(kind) << 32) | (u32)(func_id), (ctx), (g))

/* Copies `count` elements of `elem_size` bytes into a slot holding at most
 * `max_elems`; `len` is Go's length of the slice. */
static __always_inline void weaver_read_elems(u8 *slot, u32 max_elems, u32 elem_size, u64 ptr, s64 len)
{
	u64 n = 0;
	if (len > 0) {
		n = (u64)len;
		if (n > max_elems)
			n = max_elems;
	}
	weaver_read_slot(slot, max_elems * elem_size, ptr, (s64)(n * elem_size));
}

/* Go map entries (src/plan.ts planMap, src/codegen.ts mapCode), in two
 * phases. First a walk over the map's storage, run by bpf_loop so that the
 * verifier checks one step instead of every iteration, collects references
 * to up to `want` full slots into a per-CPU scratch array (the BPF stack is
 * too small for them). A slot reference is the address of its bucket or
 * group (8-aligned) with the slot index 0..7 in the low 3 bits. Then the
 * generated code copies each referenced slot's key and elem into the record
 * with weaver_map_entry.
 *
 * Old hash map (runtime.hmap, before Go 1.24): 1 << B buckets of 8 slots,
 * each bucket ending in an overflow pointer; a slot is full when its tophash
 * is >= 5 (minTopHash; 0 emptyRest, 1 emptyOne, 2..4 evacuated). While the
 * map grows, the entries of old buckets not evacuated yet are still in
 * oldbuckets (and nowhere else): they are walked after the new buckets.
 *
 * Swiss tables (internal/runtime/maps, Go 1.24+): dirLen 0 means a small
 * map whose dirPtr is one group; otherwise dirPtr is an array of dirLen
 * *table, where a table appears in consecutive entries as often as its
 * depth says, and a table's groups are {data at 16, lengthMask at 24}. A
 * group is a control word then 8 slots; slot i is full when control byte i
 * has its high bit clear (0x80 empty, 0xfe deleted). */
#define WEAVER_MAP_MAX_REFS 1024 /* plan.ts MAP_MAX_ENTRIES, a power of two */
#define WEAVER_MAP_STEP_BOUND 1 /* plan.ts MAP_WALK_STATUS.stepBound */
#define WEAVER_MAP_UNREADABLE 2 /* plan.ts MAP_WALK_STATUS.unreadable */
#define WEAVER_MAP_INTERRUPTED 4 /* plan.ts MAP_WALK_STATUS.interrupted */
#define WEAVER_MAP_STRINGS 2 /* strings of an entry weaver_map_copy follows (codegen.ts MAP_LOOP_STRINGS) */

/* The state of one walk and the references it collected, kept in a
 * per-CPU map value rather than on the stack: the verifier knows nothing
 * of a map value's contents, so it checks a step once for any state
 * instead of once per count of entries found so far. */
struct weaver_map_walk {
	u64 groups;	/* the bucket or group array being walked */
	u64 ngroups;	/* buckets or groups in it */
	u64 next;	/* index of the next one to visit */
	u64 chain;	/* hmap: the next overflow bucket of the current chain; 0 when none */
	u64 old;	/* hmap: old buckets to walk after `groups` while the map grows; 0 when none */
	u64 nold;
	u64 old_start;	/* hmap: nevacuate; the old buckets below it are all evacuated */
	u64 dir;	/* Swiss: the directory of tables; 0 for a small map */
	u64 dir_len;
	u64 dir_next;
	u64 last_table;
	u32 group_size;
	u32 want;
	u32 found;
	u32 status;
	u32 done;	/* set when every bucket or group was visited */
	u32 reserved;
	/* Counts the walks begun on this CPU. A program preempted by another
	 * one on the same CPU (uprobe programs may be) finds it changed after
	 * its copy, and drops what it copied: the refs may be the other's. */
	u64 seq;
	u64 ref[WEAVER_MAP_MAX_REFS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct weaver_map_walk);
} weaver_map_walks SEC(".maps") WEAVER_SHARED;

WEAVER_LOOKUP_SITE struct weaver_map_walk *weaver_map_walk_state(void)
{
	u32 key = 0;
	return bpf_map_lookup_elem(&weaver_map_walks, &key);
}

static __always_inline void weaver_map_take(struct weaver_map_walk *w, u64 group, u32 slot)
{
	if (w->found < w->want) {
		w->ref[w->found & (WEAVER_MAP_MAX_REFS - 1)] = group | slot;
		w->found++;
	}
}

/* One bucket of an old hash map: the next of the current overflow chain,
 * else the next of the bucket array, else (growing) of the old one. */
WEAVER_CALLBACK long weaver_map_hmap_step(u64 index, void *ctx);
#ifndef WEAVER_SECONDARY_UNIT
WEAVER_CALLBACK long weaver_map_hmap_step(u64 index, void *ctx)
{
	struct weaver_map_walk *w = weaver_map_walk_state();
	if (!w)
		return 1;
	u64 b = w->chain;
	if (!b) {
		if (w->next >= w->ngroups) {
			if (!w->old) {
				w->done = 1;
				return 1;
			}
			w->groups = w->old;
			w->ngroups = w->nold;
			w->next = w->old_start;
			w->old = 0;
			return 0;
		}
		b = w->groups + w->next * w->group_size;
		w->next++;
	}
	u8 tophash[8];
	u64 overflow = 0;
	w->chain = 0;
	if (bpf_probe_read_user(tophash, sizeof(tophash), (void *)b) ||
	    bpf_probe_read_user(&overflow, sizeof(overflow), (void *)(b + w->group_size - 8))) {
		w->status |= WEAVER_MAP_UNREADABLE;
		return 0;
	}
	/* emptyRest first: this bucket and its chain are empty; evacuated
	 * (2..4, old buckets only): its entries are in the new buckets. */
	if (tophash[0] == 0 || (tophash[0] >= 2 && tophash[0] <= 4))
		return 0;
	w->chain = overflow;
	for (u32 i = 0; i < 8; i++) {
		if (tophash[i] >= 5)
			weaver_map_take(w, b, i);
	}
	return w->found >= w->want;
}
#endif

/* One group of a Swiss map, or, at the end of a table's groups, the next
 * table of the directory (repeats of the last one skipped). */
WEAVER_CALLBACK long weaver_map_swiss_step(u64 index, void *ctx);
#ifndef WEAVER_SECONDARY_UNIT
WEAVER_CALLBACK long weaver_map_swiss_step(u64 index, void *ctx)
{
	struct weaver_map_walk *w = weaver_map_walk_state();
	if (!w)
		return 1;
	if (w->next >= w->ngroups) {
		u64 table = 0;
		u64 groups[2] = {};
		if (w->dir_next >= w->dir_len) {
			w->done = 1;
			return 1;
		}
		if (bpf_probe_read_user(&table, sizeof(table), (void *)(w->dir + 8 * w->dir_next)))
			table = 0;
		w->dir_next++;
		if (table == w->last_table)
			return 0;
		w->last_table = table;
		if (!table || bpf_probe_read_user(groups, sizeof(groups), (void *)(table + 16))) {
			w->status |= WEAVER_MAP_UNREADABLE;
			return 0;
		}
		w->groups = groups[0];
		w->ngroups = groups[1] + 1;
		w->next = 0;
		return 0;
	}
	u64 g = w->groups + w->next * w->group_size;
	u64 ctrl = 0;
	w->next++;
	if (bpf_probe_read_user(&ctrl, sizeof(ctrl), (void *)g)) {
		w->status |= WEAVER_MAP_UNREADABLE;
		return 0;
	}
	for (u32 i = 0; i < 8; i++) {
		if (!((ctrl >> (8 * i)) & 0x80))
			weaver_map_take(w, g, i);
	}
	return w->found >= w->want;
}
#endif

/* Phase one: `header` holds the map header's first 40 bytes as copied;
 * returns the slots found (at most `want`, in at most `steps` steps), their
 * references in the scratch value, and sets *status and *seq (the walk's
 * number, for weaver_map_copy). */
static __always_inline u32 weaver_map_walk(const u8 *header, int swiss, u32 group_size, u32 want, u32 steps,
					   u32 *status, u64 *seq)
{
	struct weaver_map_walk *w = weaver_map_walk_state();
	if (!w) {
		*status = WEAVER_MAP_UNREADABLE;
		return 0;
	}
	w->seq++;
	*seq = w->seq;
	u64 storage = *(u64 *)(header + 16);
	w->groups = 0;
	w->ngroups = 0;
	w->next = 0;
	w->chain = 0;
	w->old = 0;
	w->nold = 0;
	w->old_start = 0;
	w->dir = 0;
	w->dir_len = 0;
	w->dir_next = 0;
	w->last_table = 0;
	w->group_size = group_size;
	w->want = want < WEAVER_MAP_MAX_REFS ? want : WEAVER_MAP_MAX_REFS;
	w->found = 0;
	w->status = 0;
	w->done = 0;
	if (swiss) {
		s64 dir_len = *(s64 *)(header + 24);
		if (dir_len > 0) {
			w->dir = storage;
			w->dir_len = (u64)dir_len;
		} else {
			w->groups = storage;
			w->ngroups = storage ? 1 : 0;
		}
		bpf_loop(steps, weaver_map_swiss_step, 0, 0);
	} else {
		u8 flags = header[8];
		u8 b = header[9] & 63;
		w->groups = storage;
		w->ngroups = storage ? 1ULL << b : 0;
		w->old = *(u64 *)(header + 24);
		w->old_start = *(u64 *)(header + 32);
		/* sameSizeGrow (8): as many old buckets as new ones, else half. */
		w->nold = (flags & 8) || b == 0 ? 1ULL << b : 1ULL << (b - 1);
		bpf_loop(steps, weaver_map_hmap_step, 0, 0);
	}
	if (!w->done && w->found < w->want)
		w->status |= WEAVER_MAP_STEP_BOUND;
	*status = w->status;
	return w->found;
}

/* Phase two: where to copy the slots a walk collected. Every field is a
 * u64 so that the verifier knows each constant the generated code stores
 * here (it needs them to bound the writes into the record). */
struct weaver_map_copy {
	u8 *images;	/* entry 0's image in the record; entry k's is k * entry_size further */
	u64 count;	/* references the walk collected */
	u64 max;	/* entry images in the record */
	u64 entry_size;
	u64 elem_at;	/* the elem's offset in an entry image */
	u64 key_size;
	u64 elem_size;
	u64 keys_off;	/* slot i's key is at keys_off + i * key_stride in its bucket or group */
	u64 key_stride;
	u64 elems_off;
	u64 elem_stride;
	u64 copied;
	/* Strings (or []byte) in an entry, whose bytes the loop reads too:
	 * entry k's string j has its header at str_at[j] in the image and its
	 * slot at slots + k * slot_stride + str_slot[j]. */
	u64 strings;
	u8 *slots;
	u64 slot_stride;
	u64 str_at[WEAVER_MAP_STRINGS];
	u64 str_slot[WEAVER_MAP_STRINGS];
	u64 str_cap[WEAVER_MAP_STRINGS];
};

/* Copies entry k: the key and elem of the k-th slot collected. Stops at the
 * first that cannot be read, so that entries 0..copied-1 are all valid. */
WEAVER_CALLBACK long weaver_map_copy_step(u64 k, void *ctx);
#ifndef WEAVER_SECONDARY_UNIT
WEAVER_CALLBACK long weaver_map_copy_step(u64 k, void *ctx)
{
	struct weaver_map_copy *c = ctx;
	struct weaver_map_walk *w = weaver_map_walk_state();
	if (!w || k >= c->count || k >= c->max)
		return 1;
	u64 ref = w->ref[k & (WEAVER_MAP_MAX_REFS - 1)];
	u64 group = ref & ~7ULL;
	u64 i = ref & 7;
	u8 *image = c->images + k * c->entry_size;
	if (c->key_size && bpf_probe_read_user(image, c->key_size, (void *)(group + c->keys_off + i * c->key_stride)))
		return 1;
	if (c->elem_size &&
	    bpf_probe_read_user(image + c->elem_at, c->elem_size, (void *)(group + c->elems_off + i * c->elem_stride)))
		return 1;
	for (int j = 0; j < WEAVER_MAP_STRINGS; j++) {
		if (j < c->strings) {
			u8 *header = image + c->str_at[j];
			weaver_read_slot(c->slots + k * c->slot_stride + c->str_slot[j], c->str_cap[j], *(u64 *)header,
					 *(s64 *)(header + 8));
		}
	}
	c->copied = k + 1;
	return 0;
}
#endif

/* Phase two for a whole map: returns the entries copied. `c` holds the
 * constants the generated code filled in; count and copied are set here.
 * Nothing counts as copied if another walk began on this CPU since walk
 * number `seq`. */
static __always_inline u32 weaver_map_copy(struct weaver_map_copy *c, u32 count, u64 seq, u32 *status)
{
	struct weaver_map_walk *w;
	c->count = count;
	c->copied = 0;
	if (count)
		bpf_loop(c->max, weaver_map_copy_step, c, 0);
	w = weaver_map_walk_state();
	if (count && (!w || w->seq != seq)) {
		c->copied = 0;
		*status |= WEAVER_MAP_INTERRUPTED;
	}
	return c->copied;
}

#endif
