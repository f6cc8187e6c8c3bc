/* Moving the daemon's veth ends into a starting container: RTM_NEWLINK on the link's index with
 * IFLA_NET_NS_FD, IFLA_IFNAME and IFF_UP. The kernel moves the link first, then renames it in the new
 * namespace, then brings it up: it never appears there half-configured. */
#include "netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct nl_req {
    struct nlmsghdr h;
    struct ifinfomsg ifi;
    char attrs[64];
};

static void put_attr(struct nl_req *r, unsigned short type, const void *data, size_t len)
{
    struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->h.nlmsg_len));
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(a), data, len);
    r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Sends one request and reads its ack: 0 or the errno the kernel answered (or that the socket failed with). */
static int request(int sock, struct nl_req *r)
{
    union {
        struct nlmsghdr h;
        char buf[4096];
    } ack;
    ssize_t n;
    if (send(sock, r, r->h.nlmsg_len, 0) < 0)
        return errno;
    for (;;) {
        while ((n = recv(sock, &ack, sizeof(ack), 0)) < 0 && errno == EINTR)
            ;
        if (n < 0)
            return errno;
        for (struct nlmsghdr *h = &ack.h; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != r->h.nlmsg_seq || h->nlmsg_type != NLMSG_ERROR)
                continue;
            return h->nlmsg_len >= NLMSG_LENGTH(sizeof(int)) ? -((struct nlmsgerr *)NLMSG_DATA(h))->error : EPROTO;
        }
    }
}

int hlx_nics_move(const struct hlx_spec *spec, pid_t pid, struct hlx_err *er)
{
    char path[64];
    int netns, sock, rc = 0;
    if (spec->n_nics == 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
    if ((netns = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return hlx_fail(er, errno, "nic %s: Failed opening the container's network namespace: %s", spec->nics[0].peer,
                        strerror(errno));
    if ((sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) < 0) {
        rc = hlx_fail(er, errno, "nic %s: Failed opening a netlink socket: %s", spec->nics[0].peer, strerror(errno));
        close(netns);
        return rc;
    }
    for (int i = 0; i < spec->n_nics && rc == 0; i++) {
        const struct hlx_nic *c = &spec->nics[i];
        struct nl_req r = {0};
        unsigned index = if_nametoindex(c->peer);
        int e;
        if (index == 0) {
            rc = hlx_fail(er, errno, "nic %s: %s", c->peer, strerror(errno));
            break;
        }
        r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
        r.h.nlmsg_type = RTM_NEWLINK;
        r.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        r.h.nlmsg_seq = (unsigned)i + 1;
        r.ifi.ifi_family = AF_UNSPEC;
        r.ifi.ifi_index = (int)index;
        r.ifi.ifi_flags = IFF_UP;
        r.ifi.ifi_change = IFF_UP;
        put_attr(&r, IFLA_NET_NS_FD, &netns, sizeof(netns));
        put_attr(&r, IFLA_IFNAME, c->name, strlen(c->name) + 1);
        if ((e = request(sock, &r)) != 0)
            rc = hlx_fail(er, e, "nic %s: Failed moving it into the container as %s: %s", c->peer, c->name, strerror(e));
    }
    close(sock);
    close(netns);
    return rc;
}
