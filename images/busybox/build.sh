#!/usr/bin/env bash
# Builds the busybox container image offline in a second or two, from Debian's busybox-static:
#   OUT/busybox.tar.gz                                  unified image (metadata.yaml, templates/, rootfs/)
#   OUT/busybox.meta.tar.gz + busybox.rootfs.tar.gz     the same image split (metadata + rootfs tarball)
#   OUT/busybox.rootfs.squashfs                         the rootfs as squashfs (split import with busybox.meta.tar.gz)
# Deterministic: fixed mtimes, owners and file order, so the fingerprints only change with busybox.
# Usage: images/busybox/build.sh OUT_DIR
set -euo pipefail

out=${1:?usage: build.sh OUT_DIR}
bb=/bin/busybox
[[ -x $bb ]] || { echo "busybox-static is not installed ($bb missing)" >&2; exit 1; }
"$bb" --list-full >/dev/null

version=$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || "$bb" | head -1 | awk '{print $2}')
epoch=$(stat -c %Y "$bb")
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/hyperlxd-busybox.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

img=$work/image
root=$img/rootfs
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,var/log,run} "$img/templates"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
cp "$bb" "$root/bin/busybox"
# Applet links, as `busybox --install -s` would make them, without running busybox inside a chroot.
"$bb" --list-full | while read -r applet; do
    [[ $applet == bin/busybox ]] && continue
    [[ -e $root/$applet || -L $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
done
ln -sf /bin/busybox "$root/sbin/init"

# eth0-dhcp is a `once` entry: init starts it and goes on, so a container without eth0 (or without a
# DHCP server) starts as fast as before.
cat >"$root/etc/inittab" <<'INITTAB'
::sysinit:/bin/mount -t proc proc /proc
::sysinit:/bin/mount -t sysfs sysfs /sys
::sysinit:/bin/hostname -F /etc/hostname
::once:/etc/init.d/eth0-dhcp
::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/umount -a -r
INITTAB
mkdir -p "$root/etc/init.d" "$root/usr/share/udhcpc"
# When the container has an eth0 (a nic device), ask for a DHCP lease on it; udhcpc goes to the
# background at once when no lease comes, and keeps renewing the one it gets.
cat >"$root/etc/init.d/eth0-dhcp" <<'SCRIPT'
#!/bin/sh
[ -e /sys/class/net/eth0 ] || exit 0
ip link set eth0 up
exec udhcpc -i eth0 -b -t 10 -T 1 -A 5 -s /usr/share/udhcpc/default.script -p /run/udhcpc.eth0.pid >>/var/log/udhcpc.log 2>&1
SCRIPT
# udhcpc's hook (as busybox's simple.script): address, default route and resolv.conf from the lease.
cat >"$root/usr/share/udhcpc/default.script" <<'SCRIPT'
#!/bin/sh
case "$1" in
deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
bound|renew)
    ip -4 addr flush dev "$interface" scope global
    ip addr add "$ip/${mask:-24}" ${broadcast:+broadcast "$broadcast"} dev "$interface"
    while ip route del default dev "$interface" 2>/dev/null; do :; done
    for r in $router; do
        ip route add default via "$r" dev "$interface" && break
    done
    {
        [ -n "$domain" ] && echo "search $domain"
        for s in $dns; do echo "nameserver $s"; done
    } >/etc/resolv.conf
    ;;
esac
exit 0
SCRIPT
chmod 0755 "$root/etc/init.d/eth0-dhcp" "$root/usr/share/udhcpc/default.script"
echo busybox >"$root/etc/hostname"
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"

cat >"$img/metadata.yaml" <<META
architecture: x86_64
creation_date: $epoch
properties:
  description: Busybox x86_64
  os: busybox
  release: "$version"
  architecture: x86_64
templates: {}
META

tarball() { # tarball OUT DIR ENTRIES...
    local dest=$1 dir=$2; shift 2
    tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --format=gnu \
        -C "$dir" -cf - "$@" | gzip -n -9 >"$dest"
}
tarball "$out/busybox.tar.gz" "$img" metadata.yaml templates rootfs
tarball "$out/busybox.meta.tar.gz" "$img" metadata.yaml templates
tarball "$out/busybox.rootfs.tar.gz" "$root" .
find "$root" -exec touch -h -d "@$epoch" {} +
rm -f "$out/busybox.rootfs.squashfs"
mksquashfs "$root" "$out/busybox.rootfs.squashfs" -all-root -comp gzip -noappend -quiet -mkfs-time "$epoch" -all-time "$epoch" >/dev/null

for f in busybox.tar.gz busybox.meta.tar.gz busybox.rootfs.tar.gz busybox.rootfs.squashfs; do
    printf '%s  %s\n' "$(sha256sum "$out/$f" | cut -d' ' -f1)" "$f"
done
