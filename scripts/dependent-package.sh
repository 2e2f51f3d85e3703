#!/usr/bin/env bash
# The library products used from another package as a user would: `.package(url:from:)` on a tagged copy of this
# checkout, a target that imports CEPCore and CEPRuntime, built and run. Fails if SwiftPM refuses the dependency
# (before tools-version 6.2 it did: "the target 'CEPCore' in product 'CEPCore' contains unsafe build flags").
#
#   scripts/dependent-package.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone -q "$root" "$work/cepd"
# The working tree as it is (uncommitted changes too), committed and tagged in the copy.
tar -C "$root" --exclude=./.git --exclude='./.build*' --exclude=./.cache --exclude=./Fuzz/.build \
    --exclude=./Benchmarks/.build -cf - . | tar -C "$work/cepd" -xf -
git -C "$work/cepd" add -A
git -C "$work/cepd" -c user.name=ci -c user.email=ci@localhost commit -qm "as checked out" --allow-empty
git -C "$work/cepd" tag 99.0.0
mkdir -p "$work/user/Sources/User"
cat > "$work/user/Package.swift" <<SWIFT
// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "user",
    dependencies: [.package(url: "file://$work/cepd", from: "99.0.0")],
    targets: [
        .executableTarget(
            name: "User",
            dependencies: [.product(name: "CEPCore", package: "cepd"), .product(name: "CEPRuntime", package: "cepd")])
    ]
)
SWIFT
cat > "$work/user/Sources/User/main.swift" <<'SWIFT'
import CEPCore
import CEPRuntime

print(DurationFormat.format(milliseconds: 5_400_000), TaskID(ofPartition: 3))
SWIFT
(cd "$work/user" && swift build -q 2>&1 | tail -n 20)
out=$("$work/user/.build/debug/User")
[ "$out" = "1h30m 3" ] || { echo "dependent package: FAIL: printed '$out'" >&2; exit 1; }
echo "dependent package: CEPCore and CEPRuntime used through .package(url:from:) (a tagged copy of this checkout)"
