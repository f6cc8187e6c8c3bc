#!/usr/bin/env bash
# Builds the VM test image: Debian's kernel booted directly with a busybox initramfs that runs
# qemu-guest-agent. Nothing is installed on the host: the kernel and the agent come from
# `apt-get download` + `dpkg-deb -x`, cached under CACHE_DIR, so a rebuild is offline and fast.
#   OUT/vm.tar.gz                          unified image: metadata.yaml, templates/, rootfs.img (qcow2),
#                                          boot/vmlinuz, boot/initrd.img, boot/cmdline
#   OUT/vm.meta.tar.gz + OUT/vm.rootfs.img the same image split (metadata tarball with boot/, qcow2 disk)
#   OUT/vm/{vmlinuz,initrd.img,cmdline}    the boot files unpacked (a raw qemu-system-x86_64 boot, the bench)
# The guest: /init is busybox init; /etc/rc loads the virtio, ext4 and ACPI button modules, makes
# /dev/virtio-ports/*, mounts the disk at /mnt/disk, names the host and leaves a marker on the console;
# qemu-ga and acpid are respawned; the ACPI power button (virDomainShutdown) runs `poweroff`.
# Usage: images/vm/build.sh OUT_DIR [CACHE_DIR]
set -euo pipefail

out=${1:?usage: build.sh OUT_DIR [CACHE_DIR]}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cache=${2:-$out/../cache/vm}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bb=/bin/busybox
[[ -x $bb ]] || { echo "busybox-static is not installed ($bb missing)" >&2; exit 1; }
for tool in apt-get apt-cache dpkg-deb cpio qemu-img mkfs.ext4 gzip ldd; do
    command -v "$tool" >/dev/null || { echo "build.sh needs $tool" >&2; exit 1; }
done

# debs PACKAGE...: the cached .deb of each PACKAGE's candidate version (one path a line), downloaded
# once. --print-uris names the files without network (one apt call: apt is slow to load its cache).
debs() {
    local uris pkg file
    uris=$(apt-get download --print-uris "$@" 2>/dev/null || true)
    for pkg in "$@"; do
        file=$(awk -v p="$pkg" 'index($2, p "_") == 1 {print $2; exit}' <<<"$uris")
        if [[ -z $file ]]; then # no apt lists (offline box): the newest cached copy
            file=$(cd "$cache" && ls -1 "${pkg}"_*.deb 2>/dev/null | sort -V | tail -1)
            [[ -n $file ]] || { echo "cannot resolve package $pkg (no apt lists, nothing cached)" >&2; return 1; }
        fi
        if [[ ! -s $cache/$file ]]; then
            (cd "$cache" && apt-get download -q "$pkg" 2>&1 | grep -v 'Download is performed unsandboxed' >&2) || true
            [[ -s $cache/$file ]] || { echo "apt-get download $pkg did not produce $file" >&2; return 1; }
        fi
        echo "$cache/$file"
    done
}

# linux-image-amd64 is a metapackage: the real one is its versioned dependency (linux-image-6.1.0-N-amd64).
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [[ -z $kpkg ]]; then
    kpkg=$(cd "$cache" && ls -1 linux-image-[0-9]*-amd64_*.deb 2>/dev/null | sort -V | tail -1 | cut -d_ -f1)
fi
[[ -n $kpkg ]] || { echo "cannot resolve the kernel package behind linux-image-amd64" >&2; exit 1; }
mapfile -t found < <(debs "$kpkg" qemu-guest-agent)
[[ ${#found[@]} -eq 2 ]] || exit 1
kdeb=${found[0]}
gadeb=${found[1]}

# Same inputs and same script → same outputs: skip the work (the Images task runs on every build).
stamp=$(cat "$0" "$bb" | sha256sum | cut -d' ' -f1)-$(basename "$kdeb")-$(basename "$gadeb")
outputs=(vm.tar.gz vm.meta.tar.gz vm.rootfs.img vm/vmlinuz vm/initrd.img vm/cmdline)
if [[ -f $out/vm.stamp && $(cat "$out/vm.stamp") == "$stamp" ]] && (cd "$out" && ls "${outputs[@]}" >/dev/null 2>&1); then
    echo "vm image up to date ($kpkg)"
    (cd "$out" && sha256sum vm.tar.gz vm.meta.tar.gz vm.rootfs.img)
    exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hyperlxd-vm.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
dpkg-deb -x "$kdeb" "$work/kernel"
dpkg-deb -x "$gadeb" "$work/agent"
kver=$(ls "$work/kernel/lib/modules")
moddir=$work/kernel/lib/modules/$kver
epoch=$(stat -c %Y "$kdeb")

init=$work/initramfs
mkdir -p "$init"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,etc/acpi/PWRF,proc,sys,dev,tmp,root,run,var/log,mnt/disk,lib/modules}
chmod 1777 "$init/tmp"
chmod 0700 "$init/root"
ln -s ../run "$init/var/run"
cp "$bb" "$init/bin/busybox"
"$bb" --list-full | while read -r applet; do
    [[ $applet == bin/busybox ]] && continue
    [[ -e $init/$applet || -L $init/$applet ]] || ln -s /bin/busybox "$init/$applet"
done
ln -s bin/busybox "$init/init" # the kernel runs /init: busybox init, configured by /etc/inittab

# qemu-ga and every library ldd lists (from the host, where the agent's libraries are those of QEMU's).
cp "$work/agent/usr/sbin/qemu-ga" "$init/usr/sbin/qemu-ga"
libs=$(LD_LIBRARY_PATH="$work/agent/usr/lib/x86_64-linux-gnu" ldd "$work/agent/usr/sbin/qemu-ga")
if grep -q 'not found' <<<"$libs"; then
    echo "qemu-ga needs libraries this host lacks:" >&2
    grep 'not found' <<<"$libs" >&2
    echo "install qemu-guest-agent's dependencies (apt-cache depends qemu-guest-agent)" >&2
    exit 1
fi
awk '/=> \// {print $3} /^\t\/[^ ]+ \(/ {print $1}' <<<"$libs" | while read -r lib; do
    mkdir -p "$init$(dirname "$lib")"
    cp -L "$lib" "$init$lib"
done
mkdir -p "$init/lib64" "$init/usr/lib"
[[ -e $init/lib64/ld-linux-x86-64.so.2 ]] || cp -L /lib64/ld-linux-x86-64.so.2 "$init/lib64/"

# Modules: the ones a guest needs, each after its dependencies (their `depends=` modinfo field; the
# package carries no modules.dep). virtio_ring before virtio, the virtio_pci halves before virtio_pci,
# failover/net_failover before virtio_net, crc32c before ext4 (its checksums), evdev + button for acpid.
declare -A modpath=()
while read -r ko; do
    name=$(basename "$ko" .ko)
    modpath[${name//-/_}]=$ko
done < <(find "$moddir/kernel" -name '*.ko')
order=()
declare -A loaded=()
want() {
    local m=${1//-/_} dep deps
    [[ -n ${loaded[$m]:-} ]] && return
    [[ -n ${modpath[$m]:-} ]] || { grep -q "/$m.ko\$" "$moddir/modules.builtin" && return; echo "module $m not in $kpkg" >&2; exit 1; }
    loaded[$m]=1
    deps=$(tr '\0' '\n' <"${modpath[$m]}" | sed -n 's/^depends=//p' | tr ',' ' ')
    for dep in $deps; do want "$dep"; done
    order+=("$m")
}
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_console virtio_blk \
         failover net_failover virtio_net crc32c_generic ext4 evdev button; do
    want "$m"
done
for m in "${order[@]}"; do
    cp "${modpath[$m]}" "$init/lib/modules/$m.ko"
done
printf '%s\n' "${order[@]}" >"$init/etc/modules"

cat >"$init/etc/inittab" <<'INITTAB'
::sysinit:/etc/init.d/rc
::respawn:/etc/init.d/qemu-ga
::respawn:/sbin/acpid -f -c /etc/acpi -l /var/log/acpid.log
::once:/etc/init.d/eth0-dhcp
::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/etc/init.d/shutdown
INITTAB

cat >"$init/etc/init.d/rc" <<'SCRIPT'
#!/bin/sh
# One pass at boot, before init starts the agent: filesystems, modules, devices, disk, hostname.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/virtio-ports
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755 tmpfs /run
while read -r m; do insmod "/lib/modules/$m.ko" 2>/dev/null; done </etc/modules
# No udev: the agent's port by the name QEMU gave it (org.qemu.guest_agent.0).
for n in /sys/class/virtio-ports/*/name; do
    [ -r "$n" ] || continue
    port=$(basename "$(dirname "$n")")
    ln -sf "/dev/$port" "/dev/virtio-ports/$(cat "$n")"
done
# The root disk (an ext4 filesystem in rootfs.img) holds what must survive a reboot or a restore.
[ -b /dev/vda ] && mount -t ext4 -o errors=remount-ro /dev/vda /mnt/disk
# Hostname: `hostname=NAME` on the kernel command line, else the disk's /etc/hostname, else "vm".
name=vm
[ -r /mnt/disk/etc/hostname ] && name=$(cat /mnt/disk/etc/hostname)
for arg in $(cat /proc/cmdline); do
    case "$arg" in hostname=?*) name=${arg#hostname=} ;; esac
done
hostname "$name"
echo "$name" >/etc/hostname
ip link set lo up
echo "hyperlxd-vm: ready (kernel $(uname -r), host $name)" >/dev/console
SCRIPT

cat >"$init/etc/init.d/qemu-ga" <<'SCRIPT'
#!/bin/sh
# Respawned by init: waits for the agent's port (a VM started without the channel just idles).
port=/dev/virtio-ports/org.qemu.guest_agent.0
while [ ! -e "$port" ]; do sleep 5; done
exec /usr/sbin/qemu-ga -m virtio-serial -p "$port" -t /run -f /run/qemu-ga.pid
SCRIPT

cat >"$init/etc/init.d/shutdown" <<'SCRIPT'
#!/bin/sh
# init's shutdown action (poweroff, reboot, the ACPI power button): flush and unmount the disk.
sync
umount /mnt/disk 2>/dev/null || mount -o remount,ro /mnt/disk 2>/dev/null
umount -a -r 2>/dev/null
exit 0
SCRIPT

# busybox acpid turns the power button's input event (KEY_POWER) into the action PWRF/00000080 and runs
# that file from its config dir: a graceful stop (ACPI shutdown) powers the VM off in about a second.
cat >"$init/etc/acpi/PWRF/00000080" <<'SCRIPT'
#!/bin/sh
echo "hyperlxd-vm: power button, powering off" >/dev/console
exec /sbin/poweroff
SCRIPT

cat >"$init/etc/init.d/eth0-dhcp" <<'SCRIPT'
#!/bin/sh
[ -e /sys/class/net/eth0 ] || exit 0
ip link set eth0 up
exec udhcpc -i eth0 -b -t 10 -T 1 -A 5 -s /usr/share/udhcpc/default.script -p /run/udhcpc.eth0.pid >>/var/log/udhcpc.log 2>&1
SCRIPT
mkdir -p "$init/usr/share/udhcpc"
cat >"$init/usr/share/udhcpc/default.script" <<'SCRIPT'
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
chmod 0755 "$init"/etc/init.d/* "$init/etc/acpi/PWRF/00000080" "$init/usr/share/udhcpc/default.script"
echo 'root:x:0:0:root:/root:/bin/sh' >"$init/etc/passwd"
echo 'root:x:0:' >"$init/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$init/etc/hosts"
echo vm >"$init/etc/hostname"

image=$work/image
mkdir -p "$image/boot" "$image/templates" "$out/vm"
find "$init" -exec touch -h -d "@$epoch" {} +
(cd "$init" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -n -9 >"$image/boot/initrd.img"
cp "$work/kernel/boot/vmlinuz-$kver" "$image/boot/vmlinuz"
echo "console=ttyS0 panic=-1 quiet" >"$image/boot/cmdline"
chmod 0644 "$image"/boot/*

# The root disk: 64 MiB of ext4 (a marker and the hostname file) as qcow2.
disk=$work/disk
mkdir -p "$disk/etc"
echo vm >"$disk/etc/hostname"
echo "Hyperlxd VM test image ($kpkg)" >"$disk/README"
find "$disk" -exec touch -h -d "@$epoch" {} +
E2FSPROGS_FAKE_TIME=$epoch mkfs.ext4 -q -F -L rootfs -U 6b9c3e43-0d6e-4d6f-9a77-68797065726c \
    -E root_owner=0:0,hash_seed=6b9c3e43-0d6e-4d6f-9a77-68797065726c -d "$disk" "$work/rootfs.raw" 64M
qemu-img convert -q -f raw -O qcow2 "$work/rootfs.raw" "$image/rootfs.img"

cat >"$image/metadata.yaml" <<META
architecture: x86_64
creation_date: $epoch
properties:
  description: Hyperlxd VM test image (Debian kernel $kver, busybox, qemu-guest-agent)
  os: busybox
  release: "$kver"
  architecture: x86_64
  variant: vm
templates: {}
META

tarball() { # tarball OUT DIR ENTRIES...
    local dest=$1 dir=$2; shift 2
    tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --format=gnu \
        -C "$dir" -cf - "$@" | gzip -n -6 >"$dest"
}
tarball "$out/vm.tar.gz" "$image" metadata.yaml templates rootfs.img boot
tarball "$out/vm.meta.tar.gz" "$image" metadata.yaml templates boot
cp "$image/rootfs.img" "$out/vm.rootfs.img"
cp "$image/boot/vmlinuz" "$image/boot/initrd.img" "$image/boot/cmdline" "$out/vm/"
# QEMU runs as libvirt-qemu: the boot files must be readable by it.
chmod 0644 "$out/vm.tar.gz" "$out/vm.meta.tar.gz" "$out/vm.rootfs.img" "$out"/vm/*
echo "$stamp" >"$out/vm.stamp"
(cd "$out" && sha256sum vm.tar.gz vm.meta.tar.gz vm.rootfs.img)
echo "kernel $kpkg, modules: ${order[*]}"
