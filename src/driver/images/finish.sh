# The last step of building one of redgreen's package-manager test images:
# $1 is the manager, $2 the os-release ID_LIKE of its family. The userland is
# Debian 12's; apt and dpkg leave PATH so that the manager is the only one.
set -eu
manager=$1
like=$2
rm -f /etc/os-release
cat > /etc/os-release <<RELEASE
# redgreen's $manager test image: Debian 12 with $manager (Debian's own
# packaging of it) as its only package manager and a local repository of
# small test packages. Not a $like distribution; its family is marked so that
# tools choose $manager.
NAME="redgreen $manager test image"
PRETTY_NAME="redgreen $manager test image (Debian 12 userland)"
ID=redgreen-$manager
ID_LIKE="$like"
VERSION_ID=12
HOME_URL="https://example.org/redgreen"
RELEASE
apt-get clean
rm -rf /var/lib/apt/lists/*
mkdir -p /usr/lib/redgreen/apt-dpkg
for tool in /usr/bin/apt /usr/bin/apt-* /usr/bin/dpkg /usr/bin/dpkg-*; do
  [ -e "$tool" ] && mv "$tool" /usr/lib/redgreen/apt-dpkg/
done
command -v "$manager" >/dev/null
