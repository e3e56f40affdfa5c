#!/usr/bin/env bash
# Print the path of a Python >= 3.13.2 (what Home Assistant 2025.9 and later need), building
# one when none is on this machine.
#
# Looked for, in order: pyenv's installed versions (newest first), then python3.14 and
# python3.13 on PATH. When none qualifies and this is Debian run as root, CPython 3.13.5 is
# built under pyenv from the unmodified upstream tarball that Debian trixie's source package
# python3.13 carries as its .orig (fetched with `apt-get source --download-only` and a private
# sources list, so the machine's own apt configuration is untouched). That takes about 5-10
# minutes of CPU on two cores, once per machine. Progress goes to stderr; only the path goes
# to stdout.
set -euo pipefail

want_major=3 want_minor=13 want_patch=2
build_version=3.13.5

log() { echo "find-python: $*" >&2; }

qualifies() {  # qualifies PYTHON -> exit 0 when it runs and is >= 3.13.2 with venv and ssl
	"$1" - "$want_major" "$want_minor" "$want_patch" <<'PY' >/dev/null 2>&1
import sys, ssl, venv, sqlite3, ctypes  # HA's test harness needs all of these
want = tuple(int(a) for a in sys.argv[1:4])
sys.exit(0 if sys.version_info[:3] >= want else 1)
PY
}

candidates() {
	if command -v pyenv >/dev/null 2>&1; then
		local root
		root="$(pyenv root)"
		# newest first; only plain CPython versions (no -dev, no free-threaded 't' builds)
		find "$root/versions" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null \
			| grep -E '^3\.[0-9]+\.[0-9]+$' | sort -t. -k1,1nr -k2,2nr -k3,3nr \
			| while read -r v; do
				for exe in "$root/versions/$v/bin/python${v%.*}" "$root/versions/$v/bin/python3"; do
					[ -x "$exe" ] && { echo "$exe"; break; }
				done
			done
	fi
	for name in python3.14 python3.13; do
		# skip pyenv shims: they resolve to whatever version is active, checked above
		local path
		path="$(command -v "$name" 2>/dev/null || true)"
		[ -n "$path" ] && case "$path" in */shims/*) ;; *) echo "$path" ;; esac
	done
}

while read -r exe; do
	if qualifies "$exe"; then echo "$exe"; exit 0; fi
done < <(candidates)

log "no Python >= $want_major.$want_minor.$want_patch found; building $build_version"
if ! command -v pyenv >/dev/null 2>&1 || [ ! -r /etc/debian_version ] || [ "$(id -u)" != 0 ]; then
	log "cannot build it here (needs Debian, root and pyenv); install Python >= 3.13.2 and rerun"
	exit 1
fi

root="$(pyenv root)"
work="${XDG_CACHE_HOME:-$HOME/.cache}/leviton-meters/python-$build_version"
mkdir -p "$work/lists/partial" "$work/archives/partial" "$root/cache"
tarball="$root/cache/Python-$build_version.tar.xz"

if [ ! -s "$tarball" ]; then
	# A private sources list with one deb-src line for trixie: apt's own lists stay as they are.
	cat >"$work/sources.list" <<LIST
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
LIST
	apt_opts=(
		-o "Dir::Etc::SourceList=$work/sources.list"
		-o "Dir::Etc::SourceParts=/dev/null"
		-o "Dir::State::Lists=$work/lists"
		-o "Dir::Cache::Archives=$work/archives"
		-o "APT::Get::List-Cleanup=0"
		-o "APT::Sandbox::User=root"
	)
	log "fetching the trixie python3.13 source package (only its .orig tarball is used)"
	apt-get "${apt_opts[@]}" update -qq >&2
	(cd "$work" && apt-get "${apt_opts[@]}" source --download-only -qq python3.13 >&2)
	orig="$work/python3.13_$build_version.orig.tar.xz"; [ -s "$orig" ] || orig=""
	if [ -z "$orig" ]; then
		log "trixie's python3.13 source package does not carry $build_version any more:"
		ls "$work" >&2
		exit 1
	fi
	# python-build checks the cached tarball against its own checksum of the upstream release,
	# so a modified tarball would be refused rather than built.
	cp "$orig" "$tarball"
fi

# What CPython's build needs for the modules Home Assistant uses (ssl, sqlite3, ctypes, lzma, ...).
build_deps=(build-essential libssl-dev zlib1g-dev libbz2-dev libreadline-dev libsqlite3-dev
	libncurses-dev libffi-dev liblzma-dev uuid-dev libgdbm-dev tk-dev xz-utils)
missing=()
for p in "${build_deps[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing build dependencies: ${missing[*]}"
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

log "building CPython $build_version under pyenv (about 5-10 minutes, once per machine)"
PYTHON_BUILD_CACHE_PATH="$root/cache" MAKE_OPTS="-j$(nproc)" \
	pyenv install --skip-existing "$build_version" >&2
exe="$root/versions/$build_version/bin/python3.13"
qualifies "$exe" || { log "the build of $build_version does not run"; exit 1; }
echo "$exe"
