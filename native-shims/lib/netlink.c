/* Making a starting container's nics: per nic, one RTM_NEWLINK creates a veth pair whose container end
 * is born inside the container's netns, named, addressed and up, and whose host end is in the caller's
 * netns; a second one puts the host end on its bridge and up. Born there, not moved there: moving a link between namespaces costs an RCU barrier
 * (~20 ms on a loaded host), creating it in place does not. */
#include "netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/veth.h>
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
    char attrs[256];
};

static void *tail(struct nl_req *r)
{
    return (char *)r + NLMSG_ALIGN(r->h.nlmsg_len);
}

static void put_attr(struct nl_req *r, unsigned short type, const void *data, size_t len)
{
    struct rtattr *a = tail(r);
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len)
        memcpy(RTA_DATA(a), data, len);
    r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* A fresh RTM_NEWLINK request with its ifinfomsg (no index: links are named by IFLA_IFNAME). */
static void start(struct nl_req *r, unsigned seq, unsigned short flags, unsigned ifi_flags)
{
    memset(r, 0, sizeof(*r));
    r->h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    r->h.nlmsg_type = RTM_NEWLINK;
    r->h.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
    r->h.nlmsg_seq = seq;
    r->ifi.ifi_family = AF_UNSPEC;
    r->ifi.ifi_flags = ifi_flags;
    r->ifi.ifi_change = ifi_flags;
}

/* A nested attribute: open it, add its members, then close it with the returned pointer. */
static struct rtattr *nest_begin(struct nl_req *r, unsigned short type)
{
    struct rtattr *a = tail(r);
    put_attr(r, type, NULL, 0);
    return a;
}

static void nest_end(struct nl_req *r, struct rtattr *a)
{
    a->rta_len = (unsigned short)((char *)tail(r) - (char *)a);
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

int hlx_nics_create(const struct hlx_spec *spec, pid_t pid, struct hlx_err *er)
{
    char path[64];
    int netns, sock, rc = 0;
    if (spec->n_nics == 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
    if ((netns = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return hlx_fail(er, errno, "nic %s: Failed opening the container's network namespace: %s", spec->nics[0].name,
                        strerror(errno));
    if ((sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) < 0) {
        rc = hlx_fail(er, errno, "nic %s: Failed opening a netlink socket: %s", spec->nics[0].name, strerror(errno));
        close(netns);
        return rc;
    }
    for (int i = 0; i < spec->n_nics && rc == 0; i++) {
        const struct hlx_nic *c = &spec->nics[i];
        struct nl_req r;
        struct rtattr *info, *data, *peer;
        struct ifinfomsg *peer_ifi;
        unsigned master = 0;
        int e;
        if (c->bridge[0] && (master = if_nametoindex(c->bridge)) == 0) {
            rc = hlx_fail(er, errno, "nic %s: bridge %s: %s", c->name, c->bridge, strerror(errno));
            break;
        }
        /* The container's end is the new link (made in its netns, up: the kernel opens a veth only once its
         * peer exists), the host end its peer (made in ours). */
        start(&r, (unsigned)(2 * i + 1), NLM_F_CREATE | NLM_F_EXCL, IFF_UP);
        put_attr(&r, IFLA_IFNAME, c->name, strlen(c->name) + 1);
        put_attr(&r, IFLA_NET_NS_FD, &netns, sizeof(netns));
        if (c->has_hwaddr)
            put_attr(&r, IFLA_ADDRESS, c->hwaddr, sizeof(c->hwaddr));
        if (c->mtu)
            put_attr(&r, IFLA_MTU, &c->mtu, sizeof(c->mtu));
        info = nest_begin(&r, IFLA_LINKINFO);
        put_attr(&r, IFLA_INFO_KIND, "veth", 5);
        data = nest_begin(&r, IFLA_INFO_DATA);
        peer = nest_begin(&r, VETH_INFO_PEER);
        peer_ifi = tail(&r); /* the peer's own ifinfomsg, then its attributes */
        memset(peer_ifi, 0, sizeof(*peer_ifi));
        peer_ifi->ifi_family = AF_UNSPEC;
        r.h.nlmsg_len = NLMSG_ALIGN(r.h.nlmsg_len) + NLMSG_ALIGN(sizeof(*peer_ifi));
        put_attr(&r, IFLA_IFNAME, c->host, strlen(c->host) + 1);
        if (c->mtu)
            put_attr(&r, IFLA_MTU, &c->mtu, sizeof(c->mtu));
        nest_end(&r, peer);
        nest_end(&r, data);
        nest_end(&r, info);
        if ((e = request(sock, &r)) != 0) {
            rc = hlx_fail(er, e, "nic %s: Failed creating it (host end %s): %s", c->name, c->host, strerror(e));
            break;
        }
        /* The host end: on its bridge and up, in one request. */
        start(&r, (unsigned)(2 * i + 2), 0, IFF_UP);
        put_attr(&r, IFLA_IFNAME, c->host, strlen(c->host) + 1);
        if (master)
            put_attr(&r, IFLA_MASTER, &master, sizeof(master));
        if ((e = request(sock, &r)) != 0)
            rc = hlx_fail(er, e, "nic %s: Failed bringing up its host end %s%s%s: %s", c->name, c->host, master ? " on " : "",
                          master ? c->bridge : "", strerror(e));
    }
    close(sock);
    close(netns);
    return rc;
}
