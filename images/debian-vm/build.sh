#!/usr/bin/env bash
# Builds a Debian 12 (bookworm) UEFI virtual-machine image for real use, as LXD's images are laid out:
#   OUT/debian-12-vm.meta.tar.gz  metadata.yaml (+ templates/), no boot/: the VM boots UEFI (OVMF)
#   OUT/debian-12-vm.qcow2        the disk: GPT, an EFI system partition with GRUB, an ext4 root
# The guest has qemu-guest-agent (exec and files through Hyperlxd), systemd-networkd (DHCP on every
# ethernet nic), a serial console on ttyS0 and an empty root password locked out of the network.
# Import: lxc image import OUT/debian-12-vm.meta.tar.gz OUT/debian-12-vm.qcow2 --alias debian-12-vm
# Needs root, network access to a Debian mirror, and: debootstrap qemu-utils gdisk dosfstools e2fsprogs
# grub-efi-amd64-bin mount (apt-get install -y --no-install-recommends debootstrap gdisk dosfstools grub-efi-amd64-bin).
# Not run by CI (it downloads ~300 MB and takes minutes): documented in README, "Debian VM image".
# Usage: images/debian-vm/build.sh OUT_DIR [SIZE (default 4G)] [MIRROR (default http://deb.debian.org/debian)]
set -euo pipefail

out=${1:?usage: build.sh OUT_DIR [SIZE] [MIRROR]}
size=${2:-4G}
mirror=${3:-http://deb.debian.org/debian}
[[ $(id -u) -eq 0 ]] || { echo "build.sh must run as root (loop devices, chroot)" >&2; exit 1; }
for tool in debootstrap qemu-img sgdisk mkfs.vfat mkfs.ext4 losetup; do
    command -v "$tool" >/dev/null || { echo "build.sh needs $tool" >&2; exit 1; }
done
[[ -d /usr/lib/grub/x86_64-efi ]] || { echo "build.sh needs grub-efi-amd64-bin" >&2; exit 1; }
mkdir -p "$out"

work=$(mktemp -d "${TMPDIR:-/tmp}/hyperlxd-debian-vm.XXXXXX")
root=$work/root
loop=""
cleanup() {
    set +e
    for m in boot/efi dev/pts dev proc sys ""; do
        mountpoint -q "$root/$m" && umount "$root/$m"
    done
    [[ -n $loop ]] && losetup -d "$loop"
    rm -rf -- "$work"
}
trap cleanup EXIT

# The disk: 100 MiB ESP + ext4 root filling the rest, on a raw file converted to qcow2 at the end.
raw=$work/disk.raw
truncate -s "$size" "$raw"
sgdisk -q -n 1:1MiB:+100MiB -t 1:EF00 -c 1:EFI -n 2:0:0 -t 2:8304 -c 2:root "$raw"
loop=$(losetup --show -f -P "$raw")
mkfs.vfat -F 32 -n EFI "${loop}p1" >/dev/null
mkfs.ext4 -q -L root "${loop}p2"
mkdir -p "$root"
mount "${loop}p2" "$root"
mkdir -p "$root/boot/efi"
mount "${loop}p1" "$root/boot/efi"

debootstrap --variant=minbase --include=systemd-sysv,udev,dbus,linux-image-amd64,grub-efi-amd64,qemu-guest-agent,iproute2,ifupdown,ca-certificates,less,nano \
    bookworm "$root" "$mirror"

mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"

rootuuid=$(blkid -s UUID -o value "${loop}p2")
efiuuid=$(blkid -s UUID -o value "${loop}p1")
cat >"$root/etc/fstab" <<FSTAB
UUID=$rootuuid / ext4 errors=remount-ro 0 1
UUID=$efiuuid /boot/efi vfat umask=0077 0 1
FSTAB
echo debian >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 debian\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
# DHCP on every ethernet nic (the nic name depends on the PCI slot): systemd-networkd.
mkdir -p "$root/etc/systemd/network"
cat >"$root/etc/systemd/network/10-dhcp.network" <<'NET'
[Match]
Type=ether

[Network]
DHCP=yes
NET
# The guest agent is started by udev when its port appears (the unit needs the device); enable it anyway.
chroot "$root" systemctl enable systemd-networkd qemu-guest-agent serial-getty@ttyS0 >/dev/null 2>&1 || true
# Serial console for `lxc console`; GRUB and the kernel on ttyS0 too. --removable: OVMF finds
# EFI/BOOT/BOOTX64.EFI without NVRAM entries (a fresh VM has none).
sed -i 's/^GRUB_CMDLINE_LINUX=.*/GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"/; s/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=1/' "$root/etc/default/grub"
echo 'GRUB_TERMINAL="console serial"' >>"$root/etc/default/grub"
chroot "$root" grub-install --target=x86_64-efi --efi-directory=/boot/efi --removable --no-nvram >/dev/null
chroot "$root" update-grub >/dev/null 2>&1
# Root has no password (console login as LXD's images), and none of it reaches the network.
chroot "$root" passwd -d root >/dev/null
chroot "$root" apt-get clean
rm -f "$root"/etc/machine-id "$root"/var/lib/dbus/machine-id
touch "$root/etc/machine-id"

for m in boot/efi dev/pts dev proc sys ""; do
    umount "$root/$m"
done
losetup -d "$loop"
loop=""

epoch=$(date +%s)
qemu-img convert -q -c -f raw -O qcow2 "$raw" "$out/debian-12-vm.qcow2"
meta=$work/meta
mkdir -p "$meta/templates"
cat >"$meta/metadata.yaml" <<META
architecture: x86_64
creation_date: $epoch
properties:
  description: Debian 12 (bookworm) x86_64, UEFI, qemu-guest-agent
  os: debian
  release: bookworm
  variant: default
  architecture: x86_64
templates: {}
META
tar --owner=0 --group=0 --numeric-owner -C "$meta" -czf "$out/debian-12-vm.meta.tar.gz" metadata.yaml templates
ls -l "$out/debian-12-vm.meta.tar.gz" "$out/debian-12-vm.qcow2"
