/* Hot-plug of disks and device nodes into a running container: `hyperlxd-nsexec mount|umount`. */
#ifndef HLX_HOTPLUG_H
#define HLX_HOTPLUG_H

int hlx_hotplug_main(int mount, int argc, char **argv);

#endif
