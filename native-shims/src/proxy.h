/* hyperlxd-nsexec proxy: a proxy device's forwarder (README.md, "Proxy forwarder"). */
#ifndef HLX_PROXY_H
#define HLX_PROXY_H

/* argv: the options after "proxy". Returns the exit status (runs until stopped). */
int hlx_proxy_main(int argc, char **argv);

#endif
