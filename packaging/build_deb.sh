#!/usr/bin/env bash
# Wrap the PyInstaller folder (dist/BlastScan) into a Debian package:
#   /opt/blastscan/...                                   the app folder as PyInstaller made it
#   /usr/bin/blastscan -> /opt/blastscan/blastscan       the command line (and the app)
#   /usr/share/applications/blastscan.desktop            menu entry: opens the app, images or folders
#   /usr/share/icons/hicolor/<N>x<N>/apps/blastscan.png  the icon (and scalable/apps/blastscan.svg)
#   /usr/share/doc/blastscan/copyright                   licences and the training-data attribution
# The desktop database and icon cache are refreshed by dpkg's triggers (desktop-file-utils,
# hicolor-icon-theme): no maintainer scripts.
#
# usage: packaging/build_deb.sh APP_FOLDER OUT_DIR [VERSION]
#   VERSION defaults to app.__version__; the package is OUT_DIR/blastscan_VERSION_ARCH.deb.
#   DEB_COMPRESSION (default "xz") is passed to dpkg-deb -Z (tests use "gzip" for speed).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
app_folder=$(cd "${1:?usage: build_deb.sh APP_FOLDER OUT_DIR [VERSION]}" && pwd)
out_dir=${2:?usage: build_deb.sh APP_FOLDER OUT_DIR [VERSION]}
version=${3:-$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$root/app/__init__.py")}
arch=$(dpkg --print-architecture)
compression=${DEB_COMPRESSION:-xz}

[ -x "$app_folder/blastscan" ] || { echo "build_deb.sh: no executable $app_folder/blastscan" >&2; exit 2; }
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
staging=$(mktemp -d "${TMPDIR:-/tmp}/blastscan-deb.XXXXXX")
trap 'rm -rf "$staging"' EXIT

install -d "$staging/opt" "$staging/usr/bin" "$staging/usr/share/applications" \
    "$staging/usr/share/doc/blastscan" "$staging/DEBIAN"
cp -a "$app_folder" "$staging/opt/blastscan"
ln -s /opt/blastscan/blastscan "$staging/usr/bin/blastscan"
install -m 644 "$here/linux/blastscan.desktop" "$staging/usr/share/applications/blastscan.desktop"
for png in "$root"/resources/icons/blastscan-*.png; do
    size=$(basename "$png" .png); size=${size#blastscan-}
    install -D -m 644 "$png" "$staging/usr/share/icons/hicolor/${size}x${size}/apps/blastscan.png"
done
install -D -m 644 "$root/resources/icons/blastscan.svg" "$staging/usr/share/icons/hicolor/scalable/apps/blastscan.svg"
install -m 644 "$here/linux/copyright" "$staging/usr/share/doc/blastscan/copyright"

# Files as root would install them: directories 755, files 644, executables and libraries 755.
find "$staging" -type d -exec chmod 755 {} +
find "$staging/opt" -type f -exec chmod u+rw,go+r,go-w {} +

installed_kib=$(du -sk --exclude=DEBIAN "$staging" | cut -f1)
cat > "$staging/DEBIAN/control" <<CONTROL
Package: blastscan
Version: $version
Architecture: $arch
Maintainer: BlastScan team <blastscan@localhost>
Installed-Size: $installed_kib
Section: science
Priority: optional
Depends: libc6 (>= 2.36), libgl1, libegl1, libxcb1, libdrm2, libfontconfig1
Recommends: libwayland-client0, libwayland-cursor0, libwayland-egl1
Description: offline detection of suspected leukemic blasts in blood smears
 BlastScan finds the white cells in microscope images of blood smears (single-cell
 crops or whole fields), classifies each with a bundled model, flags suspected
 leukemic blasts for review and exports a case report to Excel.  It never uses
 the network.  It is decision support: every flagged or uncertain cell needs
 review by a qualified person.
 .
 Self-contained: Python, Qt and the model are under /opt/blastscan.
CONTROL

deb="$out_dir/blastscan_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"$compression" ${DEB_LEVEL:+-z"$DEB_LEVEL"} --build "$staging" "$deb" >/dev/null
echo "$deb"
