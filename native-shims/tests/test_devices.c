/* The device allow-list program, run through a tiny interpreter of the instructions it uses: every
 * rule shape against matching and non-matching devices and accesses (the kernel's verifier and the
 * real enforcement are covered by the driver tests, which start containers with it). */
#include "devices_bpf.h"
#include "check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs the program on (type, major, minor, access); -1 on an instruction it does not know or a jump out. */
static int run(const struct bpf_insn *p, int len, uint32_t type, uint32_t major, uint32_t minor, uint32_t access)
{
    uint32_t ctx[3] = {access << 16 | type, major, minor};
    uint64_t r[11] = {0};
    for (int pc = 0; pc >= 0 && pc < len; pc++) {
        const struct bpf_insn *i = &p[pc];
        switch (i->code) {
        case BPF_LDX | BPF_MEM | BPF_W:
            if (i->src_reg != BPF_REG_1 || i->off % 4 || i->off > 8)
                return -1;
            r[i->dst_reg] = ctx[i->off / 4];
            break;
        case BPF_ALU64 | BPF_MOV | BPF_X: r[i->dst_reg] = r[i->src_reg]; break;
        case BPF_ALU64 | BPF_MOV | BPF_K: r[i->dst_reg] = (uint64_t)(int64_t)i->imm; break;
        case BPF_ALU64 | BPF_AND | BPF_K: r[i->dst_reg] &= (uint64_t)(int64_t)i->imm; break;
        case BPF_ALU64 | BPF_RSH | BPF_K: r[i->dst_reg] >>= i->imm; break;
        case BPF_JMP | BPF_JNE | BPF_K:
            if (r[i->dst_reg] != (uint64_t)(int64_t)i->imm)
                pc += i->off;
            break;
        case BPF_JMP | BPF_EXIT: return (int)r[0];
        default: return -1;
        }
    }
    return -1;
}

#define C BPF_DEVCG_DEV_CHAR
#define B BPF_DEVCG_DEV_BLOCK
#define M BPF_DEVCG_ACC_MKNOD
#define R BPF_DEVCG_ACC_READ
#define W BPF_DEVCG_ACC_WRITE

int main(void)
{
    static const char *const rules_text[] = {"c *:* m", "b *:* m", "c 136:* rwm", "c 1:3 rwm", "c 5:1 rw", "b 8:0 r", "c 10:200 w"};
    struct hlx_dev_rule rules[7];
    struct bpf_insn *p = calloc((size_t)hlx_devices_prog_len(7), sizeof(*p));
    int len;

    for (int i = 0; i < 7; i++)
        CHECK(hlx_dev_rule_parse(rules_text[i], &rules[i]) == 0);
    len = hlx_devices_prog(rules, 7, p);
    CHECK(len <= hlx_devices_prog_len(7));

    CHECK(run(p, len, C, 250, 7, M) == 1);       /* mknod of any char device */
    CHECK(run(p, len, B, 8, 1, M) == 1);         /* and any block device */
    CHECK(run(p, len, C, 250, 7, R) == 0);       /* but not opening it */
    CHECK(run(p, len, C, 136, 42, R | W) == 1);  /* ptys: any minor */
    CHECK(run(p, len, C, 137, 42, R) == 0);
    CHECK(run(p, len, C, 1, 3, R | W) == 1);     /* null */
    CHECK(run(p, len, C, 1, 4, R) == 0);
    CHECK(run(p, len, B, 1, 3, R) == 0);         /* type matters */
    CHECK(run(p, len, C, 5, 1, R | W) == 1);     /* console rw */
    CHECK(run(p, len, C, 5, 1, M) == 1);         /* mknod: by "c *:* m" */
    CHECK(run(p, len, C, 5, 1, M | R) == 0);     /* one rule must allow every requested bit */
    CHECK(run(p, len, B, 8, 0, R) == 1);         /* read-only disk */
    CHECK(run(p, len, B, 8, 0, R | W) == 0);
    CHECK(run(p, len, C, 10, 200, W) == 1);
    CHECK(run(p, len, C, 10, 200, R) == 0);

    /* "a": everything; no rules: nothing. */
    CHECK(hlx_dev_rule_parse("a", &rules[0]) == 0);
    len = hlx_devices_prog(rules, 1, p);
    CHECK(run(p, len, B, 259, 3, M | R | W) == 1);
    len = hlx_devices_prog(rules, 0, p);
    CHECK(run(p, len, C, 1, 3, R) == 0);
    free(p);

    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    else
        printf("devices: all checks passed\n");
    return failures ? 1 : 0;
}
