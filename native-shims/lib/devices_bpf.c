#include "devices_bpf.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define INSN(c, d, s, o, i) ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
#define LDX_W(dst, src, off) INSN(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)
#define MOV_REG(dst, src) INSN(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)
#define MOV_IMM(dst, imm) INSN(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)
#define AND_IMM(dst, imm) INSN(BPF_ALU64 | BPF_AND | BPF_K, dst, 0, 0, imm)
#define RSH_IMM(dst, imm) INSN(BPF_ALU64 | BPF_RSH | BPF_K, dst, 0, 0, imm)
#define JNE_IMM(dst, imm, off) INSN(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

#define PROLOGUE 6
#define FULL_ACCESS (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE)

/* Instructions of one rule's block: its checks, then "r0 = 1; exit". */
static int rule_len(const struct hlx_dev_rule *r)
{
    return 2 + (r->type != 'a') + 3 * (r->access != FULL_ACCESS) + (r->major >= 0) + (r->minor >= 0);
}

int hlx_devices_prog_len(int n)
{
    (void)n;
    return PROLOGUE + n * 9 + 2;
}

int hlx_devices_prog(const struct hlx_dev_rule *rules, int n, struct bpf_insn *insns)
{
    int k = 0;
    /* struct bpf_cgroup_dev_ctx { u32 access_type (access << 16 | type); u32 major; u32 minor; } */
    insns[k++] = LDX_W(BPF_REG_2, BPF_REG_1, 0);
    insns[k++] = MOV_REG(BPF_REG_3, BPF_REG_2);
    insns[k++] = AND_IMM(BPF_REG_3, 0xffff); /* r3: type */
    insns[k++] = RSH_IMM(BPF_REG_2, 16);     /* r2: requested access */
    insns[k++] = LDX_W(BPF_REG_4, BPF_REG_1, 4); /* r4: major */
    insns[k++] = LDX_W(BPF_REG_5, BPF_REG_1, 8); /* r5: minor */
    for (int i = 0; i < n; i++) {
        const struct hlx_dev_rule *r = &rules[i];
        int left = rule_len(r); /* each failed check jumps over the rest of this block */
        if (r->type != 'a') {
            left--;
            insns[k++] = JNE_IMM(BPF_REG_3, r->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK, left);
        }
        if (r->access != FULL_ACCESS) {
            /* Every requested bit must be allowed: (access & ~allowed) == 0. */
            left -= 3;
            insns[k++] = MOV_REG(BPF_REG_6, BPF_REG_2);
            insns[k++] = AND_IMM(BPF_REG_6, (int32_t)(~r->access & FULL_ACCESS));
            insns[k++] = JNE_IMM(BPF_REG_6, 0, left);
        }
        if (r->major >= 0) {
            left--;
            insns[k++] = JNE_IMM(BPF_REG_4, (int32_t)r->major, left);
        }
        if (r->minor >= 0) {
            left--;
            insns[k++] = JNE_IMM(BPF_REG_5, (int32_t)r->minor, left);
        }
        insns[k++] = MOV_IMM(BPF_REG_0, 1);
        insns[k++] = EXIT();
    }
    insns[k++] = MOV_IMM(BPF_REG_0, 0);
    insns[k++] = EXIT();
    return k;
}

static int bpf(int cmd, union bpf_attr *attr)
{
    return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int hlx_devices_attach(int cgfd, const struct hlx_dev_rule *rules, int n, struct hlx_err *er)
{
    char log[4096] = "";
    struct bpf_insn *insns = calloc((size_t)hlx_devices_prog_len(n), sizeof(*insns));
    union bpf_attr attr;
    int prog, rc;

    if (!insns)
        return hlx_fail(er, ENOMEM, "out of memory");
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = (uint32_t)hlx_devices_prog(rules, n, insns);
    attr.license = (uint64_t)(uintptr_t)"GPL";
    prog = bpf(BPF_PROG_LOAD, &attr);
    if (prog < 0 && errno == EINVAL) {
        /* Again with the verifier's log, for the message. */
        attr.log_buf = (uint64_t)(uintptr_t)log;
        attr.log_size = sizeof(log);
        attr.log_level = 1;
        prog = bpf(BPF_PROG_LOAD, &attr);
    }
    free(insns);
    if (prog < 0)
        return hlx_fail(er, errno, "Failed loading the device allow-list program: %s%s%.300s", strerror(errno),
                        log[0] ? ": " : "", log);
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)cgfd;
    attr.attach_bpf_fd = (uint32_t)prog;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    rc = bpf(BPF_PROG_ATTACH, &attr);
    if (rc < 0)
        rc = hlx_fail(er, errno, "Failed attaching the device allow-list program: %s", strerror(errno));
    close(prog); /* the cgroup holds its own reference */
    return rc;
}
