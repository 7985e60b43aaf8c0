# Turns a freshly bootstrapped Debian root folder ($1) into a VM base image
# for redgreen's qemu driver, and writes the results to $2: vmlinuz and
# initrd.img (for direct kernel boot) and rootfs.img (an ext4 file system
# made from the folder with `mkfs.ext4 -d`, so that nothing is mounted).
# $3 is the size of the root file system (sparse: only what is written
# takes space).
#
# Runs as root after mmdebstrap (or debootstrap) has finished, on the
# folder it made: paths inside the new system are "$1"/...; commands that
# must run inside it go through chroot.
set -eu
root="$1"
out="$2"
size="$3"

# The root file system is the first virtio disk; nothing to check at boot.
printf '/dev/vda / ext4 rw,errors=remount-ro 0 0\n' > "$root/etc/fstab"

# User-mode networking hands out an address by DHCP and answers DNS at
# 10.0.2.3.
mkdir -p "$root/etc/systemd/network"
cat > "$root/etc/systemd/network/10-redgreen.network" <<'EOF'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
EOF
rm -f "$root/etc/resolv.conf"
printf 'nameserver 10.0.2.3\n' > "$root/etc/resolv.conf"
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1
# Nothing here waits for the network to be "online"; do not let a unit that
# asks for it hold up the boot.
chroot "$root" systemctl mask systemd-networkd-wait-online.service >/dev/null 2>&1

# Timers that would compete with a test for the CPU of a slow VM.
for timer in apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer; do
  chroot "$root" systemctl mask "$timer" >/dev/null 2>&1 || true
done

# Every test host gets its own SSH host key, and root the project's public
# key, from a small "seed" disk (an ext4 file system labelled rgseed, made
# by redgreen with `mkfs.ext4 -d`) that this unit copies into place before
# sshd starts.
cat > "$root/usr/local/sbin/redgreen-seed" <<'EOF'
#!/bin/sh
# Copies the files redgreen put on the seed disk (labelled rgseed) into the
# root file system: this test host's SSH host key, hostname and root's
# authorized_keys. Runs once per boot, before sshd.
set -eu
dev=""
for _ in $(seq 1 50); do
  dev=$(blkid -L rgseed 2>/dev/null || true)
  [ -n "$dev" ] && break
  sleep 0.2
done
if [ -z "$dev" ]; then
  echo "redgreen-seed: no disk labelled rgseed; nothing to copy" >&2
  exit 0
fi
mkdir -p /run/redgreen-seed
mount -o ro "$dev" /run/redgreen-seed
# Owned by root whoever made the seed; modes as they were staged (the
# staged folders carry the modes of /, /etc and /root: 0755, 0755, 0700).
cp -R --preserve=mode,timestamps /run/redgreen-seed/root/. /
umount /run/redgreen-seed
if [ -s /etc/hostname ]; then
  hostname "$(cat /etc/hostname)"
fi
EOF
chmod 0755 "$root/usr/local/sbin/redgreen-seed"
cat > "$root/etc/systemd/system/redgreen-seed.service" <<'EOF'
[Unit]
Description=Copy redgreen's seed (host key, authorized key, hostname) into place
DefaultDependencies=no
After=local-fs.target systemd-remount-fs.service
Before=ssh.service sysinit.target
ConditionPathExists=/usr/local/sbin/redgreen-seed

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/redgreen-seed

[Install]
WantedBy=sysinit.target
EOF
chroot "$root" systemctl enable redgreen-seed.service >/dev/null 2>&1

# Every test host gets its own host key and machine id.
rm -f "$root"/etc/ssh/ssh_host_*
: > "$root/etc/machine-id"
mkdir -p -m 0700 "$root/root/.ssh"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb

# The kernel and initrd boot the VM directly (no boot loader).
kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n 1)
initrd=$(ls "$root"/boot/initrd.img-* | sort -V | tail -n 1)
cp "$kernel" "$out/vmlinuz"
cp "$initrd" "$out/initrd.img"
rm -f "$out/rootfs.img"
mkfs.ext4 -q -F -L rgroot -d "$root" "$out/rootfs.img" "$size"
