#!/usr/bin/env bash
# Installs what building, running and testing Hyperlxd needs on Debian 12: apt packages and the
# `hyperlxd` group (the API socket's) and the `hyperlxd-db` system user (the embedded PostgreSQL runs as
# that user, which has its own group and is not in `hyperlxd`; postgres refuses root); for virtual
# machines the `libvirt-qemu` user QEMU runs as (in group `kvm`) and /dev/kvm open to that group.
# Idempotent and fast when everything is present: apt-get runs only when a package is missing.
# Run as root. Extra packages may be given as arguments (e.g. `install-deps.sh lxd`).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

packages=(
    btrfs-progs         # btrfs storage pools (mkfs.btrfs, btrfs subvolume/qgroup)
    postgresql          # initdb/postgres for the embedded database (found under /usr/lib/postgresql/*/bin)
    lxd-client          # the stock `lxc` 5.0.2 client, used by conformance tests and the Run target
    python3-pylxd       # pylxd 2.2.10 conformance tests (run with /usr/bin/python3)
    python3-yaml
    python3-prometheus-client # /1.0/metrics conformance test: its text-format parser reads what the daemon serves
    cmake               # native-shims
    gcc
    g++
    make
    clang               # Native AOT compilation of the daemon (the ILCompiler links with clang)
    zlib1g-dev
    pkg-config          # native-shims: finds libseccomp
    libseccomp-dev      # native-shims: seccomp deny list of containers
    util-linux          # setpriv
    iproute2            # ip
    openssl
    ca-certificates
    busybox-static      # the busybox test image (images/busybox/build.sh) and the native-shims ctest rootfs
    squashfs-tools      # squashfs rootfs: unsquashfs to validate/unpack, mksquashfs for the test image
    xz-utils            # xz-compressed image tarballs are read through `xz -dc`
    bzip2               # bzip2-compressed image tarballs (`bzip2 -dc`)
    zstd                # backups and `lxc publish` with compression zstd (tar --use-compress-program / --zstd)
    nftables            # managed networks: the daemon's own `inet hyperlxd` table (NAT, forward, proxy DNAT) via `nft -f -`
    dnsmasq-base        # managed networks: one dnsmasq per bridge for DHCP and DNS (the binary only, no system service)
    ansible             # conformance test: community.general.lxd inventory plugin against the daemon's socket
    curl                # network tests: reach a proxy device from the daemon's network namespace
    libvirt0            # virtual machines: libvirt's library, loaded by the daemon (qemu:///embed, no libvirtd)
    libvirt-daemon-driver-qemu # the QEMU driver module the embedded connection loads
    qemu-system-x86     # qemu-system-x86_64 (KVM where it boots a guest, else TCG)
    qemu-utils          # qemu-img: VM disks (overlays on dir, resize) and the VM test image's qcow2
    ovmf                # UEFI firmware for VM images without a kernel of their own
    libvirt-clients     # virsh, to look at the embedded driver's domains by hand
    libxml2-utils       # xmllint; virt-xml-validate checks the domain XML golden files
    libvirt-dev         # /usr/share/libvirt/api/libvirt-api.xml: the binding's signatures are checked against it
    cpio                # the VM test image's initramfs (images/vm/build.sh)
    e2fsprogs           # mkfs.ext4 -d: the VM test image's disk
    attr                # setfattr/getfattr: backup tests put xattrs on files and read them back
)
packages+=("$@")

say() { printf 'install-deps: %s\n' "$*"; }

if [[ $(id -u) -ne 0 ]]; then
    say "must run as root" >&2
    exit 1
fi

is_installed() {
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true) == installed ]]
}

missing=()
for p in "${packages[@]}"; do
    is_installed "$p" || missing+=("$p")
done

if ((${#missing[@]} > 0)); then
    say "installing: ${missing[*]}"
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    say "apt packages: all ${#packages[@]} present"
fi

# The API socket's group: its members are root on the host through the API.
if getent group hyperlxd >/dev/null; then
    say "group hyperlxd: present"
else
    groupadd --system hyperlxd
    say "group hyperlxd: created"
fi

# The embedded PostgreSQL's own account, with a group of its own and NOT in the socket's group:
# a compromised database must not reach the API.
if getent passwd hyperlxd-db >/dev/null; then
    say "user hyperlxd-db: present"
else
    useradd --system --user-group --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin --comment "Hyperlxd embedded database" hyperlxd-db
    say "user hyperlxd-db: created"
fi
if id -nG hyperlxd-db | tr ' ' '\n' | grep -qx hyperlxd; then
    gpasswd -d hyperlxd-db hyperlxd >/dev/null
    say "user hyperlxd-db: removed from group hyperlxd"
fi

# QEMU runs as libvirt-qemu (Debian builds libvirt with that user; libvirt-daemon-system would create it,
# the embedded driver needs it all the same). In group kvm, so that /dev/kvm opens where KVM is used.
getent group kvm >/dev/null || groupadd --system kvm
if getent group libvirt-qemu >/dev/null; then
    say "group libvirt-qemu: present"
else
    groupadd --system libvirt-qemu
    say "group libvirt-qemu: created"
fi
if getent passwd libvirt-qemu >/dev/null; then
    say "user libvirt-qemu: present"
else
    useradd --system -g libvirt-qemu -G kvm --home-dir /var/lib/libvirt --no-create-home \
        --shell /usr/sbin/nologin --comment "Libvirt Qemu" libvirt-qemu
    say "user libvirt-qemu: created"
fi
if ! id -nG libvirt-qemu | tr ' ' '\n' | grep -qx kvm; then
    usermod -aG kvm libvirt-qemu
    say "user libvirt-qemu: added to group kvm"
fi

# /dev/kvm for group kvm (0660): if libvirt believes KVM exists but QEMU's user cannot open it, every
# domain create re-probes QEMU's capabilities (~50 s). A udev rule keeps it so across reboots.
if [[ -e /dev/kvm ]]; then
    if [[ $(stat -c '%G %a' /dev/kvm) != "kvm 660" ]]; then
        chgrp kvm /dev/kvm
        chmod 0660 /dev/kvm
        say "/dev/kvm: group kvm, mode 0660"
    else
        say "/dev/kvm: group kvm, mode 0660 already"
    fi
fi
rule=/etc/udev/rules.d/65-hyperlxd-kvm.rules
if [[ -d /etc/udev ]] && [[ ! -f $rule ]]; then
    mkdir -p /etc/udev/rules.d
    echo 'KERNEL=="kvm", GROUP="kvm", MODE="0660"' >"$rule"
    say "udev rule $rule: written"
fi
