# redgreen's busybox test image: Debian 12 without the shadow tools (useradd,
# usermod, groupadd, ...), with BusyBox's adduser, addgroup, deluser and
# delgroup as Alpine has them. Debian's busybox leaves those applets out, so
# BusyBox is built here from Debian's source package with only them (and the
# id ranges of Alpine's build). Runs as root inside a Debian container while
# the image is built.
set -eu
export DEBIAN_FRONTEND=noninteractive
sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > /etc/apt/sources.list.d/redgreen-src.list
apt-get update -q
apt-get install -q -y --no-install-recommends gcc make libc6-dev dpkg-dev xz-utils bzip2 patch
top=$(mktemp -d)
cd "$top"
apt-get source -q busybox
cd busybox-*/
make -s allnoconfig
for option in ADDUSER ADDGROUP DELUSER DELGROUP FEATURE_ADDUSER_TO_GROUP FEATURE_DEL_USER_FROM_GROUP FEATURE_SHADOWPASSWDS SHOW_USAGE LONG_OPTS; do
  sed -i "s/^# CONFIG_$option is not set\$/CONFIG_$option=y/" .config
done
# The id ranges of Alpine's build (allnoconfig leaves them 0).
sed -i '/^CONFIG_LAST_ID=/d; /^CONFIG_FIRST_SYSTEM_ID=/d; /^CONFIG_LAST_SYSTEM_ID=/d' .config
printf 'CONFIG_LAST_ID=256000\nCONFIG_FIRST_SYSTEM_ID=100\nCONFIG_LAST_SYSTEM_ID=999\n' >> .config
yes '' | make -s oldconfig >/dev/null
grep -q '^CONFIG_DELGROUP=y' .config
make -s -j2 busybox
install -m 755 busybox /usr/local/bin/busybox
cd /
rm -rf "$top"
apt-get purge -q -y gcc make libc6-dev dpkg-dev xz-utils bzip2 patch >/dev/null
apt-get autoremove -q -y --purge >/dev/null
rm -f /etc/apt/sources.list.d/redgreen-src.list
apt-get clean
rm -rf /var/lib/apt/lists/*
# The shadow tools (and Debian's adduser, a front end to them) leave PATH;
# BusyBox's take their names.
mkdir -p /usr/lib/redgreen/shadow
for tool in useradd usermod userdel groupadd groupmod groupdel gpasswd chpasswd newusers adduser addgroup deluser delgroup; do
  path=$(command -v "$tool") && mv "$path" /usr/lib/redgreen/shadow/
done
for tool in adduser addgroup deluser delgroup; do
  ln -s /usr/local/bin/busybox "/usr/local/sbin/$tool"
done
adduser --help 2>&1 | grep -q BusyBox
! command -v useradd
