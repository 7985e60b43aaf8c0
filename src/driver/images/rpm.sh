# Build a local rpm-md repository of small test packages (two versions of
# each, and rg-daemon, a service), for redgreen's dnf and zypper test images. Runs as root inside a
# Debian container while the image is built; $1 is the manager (dnf or zypper).
set -eu
manager=$1
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -q -y --no-install-recommends rpm createrepo-c "$manager"
# rpm's database where RPM distributions keep it (Debian's rpm defaults to
# ~/.rpmdb): dnf, zypper and `rpm -q` then read the same one.
mkdir -p /etc/rpm /var/lib/rpm
echo '%_dbpath /var/lib/rpm' > /etc/rpm/macros
top=$(mktemp -d)
mkdir -p "$top/SPECS" /srv/redgreen-repo
for name in rg-hello rg-tool rg-extra rg-more; do
  for version in 1.0 2.0; do
    cat > "$top/SPECS/$name-$version.spec" <<SPEC
Name: $name
Version: $version
Release: 1
Summary: redgreen test package $name $version
License: MIT
BuildArch: noarch
AutoReqProv: no
%description
A small package of redgreen's test images.
%install
mkdir -p %{buildroot}/usr/share/$name
echo $version > %{buildroot}/usr/share/$name/version
%files
/usr/share/$name/version
SPEC
    rpmbuild -bb --quiet --define "_topdir $top" "$top/SPECS/$name-$version.spec"
  done
done
# A service as RPM distributions package one: a systemd unit that the package
# installs but does not start (examples/platforms starts and enables it). No
# scriptlet: it would require /bin/sh, which no package here provides
# (systemd loads a unit that appeared since it last looked by itself).
cat > "$top/SPECS/rg-daemon.spec" <<'SPEC'
Name: rg-daemon
Version: 1.0
Release: 1
Summary: redgreen test daemon
License: MIT
BuildArch: noarch
AutoReqProv: no
%description
A service of redgreen's test images: a process that sleeps until stopped.
%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/usr/lib/systemd/system
printf '#!/bin/sh\nexec sleep infinity\n' > %{buildroot}/usr/bin/rg-daemon
chmod 755 %{buildroot}/usr/bin/rg-daemon
printf '[Unit]\nDescription=redgreen test daemon\n[Service]\nExecStart=/usr/bin/rg-daemon\n[Install]\nWantedBy=multi-user.target\n' > %{buildroot}/usr/lib/systemd/system/rg-daemon.service
%files
/usr/bin/rg-daemon
/usr/lib/systemd/system/rg-daemon.service
SPEC
rpmbuild -bb --quiet --define "_topdir $top" "$top/SPECS/rg-daemon.spec"
mkdir -p /srv/redgreen-extra
mv "$top"/RPMS/noarch/rg-more-*.rpm /srv/redgreen-extra/
cp "$top"/RPMS/noarch/*.rpm /srv/redgreen-repo/
createrepo_c -q /srv/redgreen-repo
# A second repository that no .repo file names: a recipe's rpm_repository adds it.
createrepo_c -q /srv/redgreen-extra
rm -rf "$top" /root/.rpmdb
repo="[redgreen]
name=redgreen test packages
baseurl=file:///srv/redgreen-repo
enabled=1
gpgcheck=0"
case $manager in
  dnf)
    mkdir -p /etc/yum.repos.d /etc/dnf/vars
    rm -f /etc/yum.repos.d/*.repo
    printf '%s\n' "$repo" > /etc/yum.repos.d/redgreen.repo
    # No system-release package tells dnf the release: give it one.
    echo 1 > /etc/dnf/vars/releasever
    ;;
  zypper)
    mkdir -p /etc/zypp/repos.d
    rm -f /etc/zypp/repos.d/*.repo
    printf '%s\ntype=rpm-md\nautorefresh=1\n' "$repo" > /etc/zypp/repos.d/redgreen.repo
    ;;
esac
