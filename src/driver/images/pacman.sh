# Build a local pacman repository of small test packages for redgreen's
# pacman test image, and make it the only repository. Runs as root inside a
# Debian container while the image is built. Sync repositories hold one
# version of a package: version 2.0 is in [redgreen], 1.0 in
# [redgreen-archive] listed after it, so that `name=1.0-1` finds a pin and
# a plain name the newest.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -q -y --no-install-recommends pacman-package-manager makepkg libarchive-tools zstd
top=$(mktemp -d)
mkdir -p /srv/redgreen-repo /srv/redgreen-archive
for name in rg-hello rg-tool rg-extra; do
  for version in 1.0 2.0; do
    root="$top/$name-$version"
    mkdir -p "$root/usr/share/$name"
    echo "$version" > "$root/usr/share/$name/version"
    cat > "$root/.PKGINFO" <<INFO
pkgname = $name
pkgbase = $name
pkgver = $version-1
pkgdesc = redgreen test package $name $version
url = https://example.org/redgreen
builddate = $(date +%s)
packager = redgreen test image
size = 4
arch = any
license = MIT
INFO
    case $version in 1.0) repo=/srv/redgreen-archive db=redgreen-archive ;; *) repo=/srv/redgreen-repo db=redgreen ;; esac
    file="$repo/$name-$version-1-any.pkg.tar.zst"
    (cd "$root" && bsdtar --uid 0 --gid 0 --uname root --gname root --zstd -cf "$file" .PKGINFO usr)
    repo-add -q "$repo/$db.db.tar.gz" "$file"
  done
done
rm -rf "$top"
cat > /etc/pacman.conf <<'CONF'
# redgreen's pacman test image: the local repositories are the only ones.
[options]
RootDir = /
DBPath = /var/lib/pacman/
CacheDir = /var/cache/pacman/pkg/
LogFile = /var/log/pacman.log
Architecture = auto
SigLevel = Never
LocalFileSigLevel = Never

[redgreen]
Server = file:///srv/redgreen-repo

[redgreen-archive]
Server = file:///srv/redgreen-archive
CONF
mkdir -p /var/lib/pacman /var/cache/pacman/pkg
