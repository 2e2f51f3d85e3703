# Sourced by the Flink scripts (with $root set): makes sure the Flink 2.3 jars (from the PyPI wheel
# apache-flink-libraries==2.3.0, downloaded once into $CEPD_CACHE or .cache) and the compiled harness are there, and
# sets $lib (the jars) and $classes (the harnesses).
cache="${CEPD_CACHE:-$root/.cache}/flink-2.3.0"
lib="$cache/pyflink/lib"
if [ ! -f "$lib/flink-cep-2.3.0.jar" ]; then
    mkdir -p "$cache"
    echo "flink: downloading apache-flink-libraries==2.3.0 (329 MB, once) into $cache"
    python3 -m pip download --quiet --no-deps apache-flink-libraries==2.3.0 -d "$cache"
    (cd "$cache" && python3 -m zipfile -e apache_flink_libraries-2.3.0-*.whl extracted \
        && mkdir -p pyflink && rm -rf pyflink/lib && mv extracted/pyflink/lib pyflink/lib && rm -rf extracted)
fi
command -v javac >/dev/null || { echo "flink: javac not found (apt-get install openjdk-17-jdk-headless)" >&2; exit 2; }
classes="$cache/classes"
for harness in FlinkCepHarness FlinkSpecHarness; do
    if [ ! -f "$classes/$harness.class" ] || [ "$here/$harness.java" -nt "$classes/$harness.class" ]; then
        mkdir -p "$classes"
        javac -d "$classes" -cp "$lib/*" "$here/$harness.java"
    fi
done


# The cepd to compare: $cepd if given (--cepd), else a release build, else a debug one.
find_cepd() {
    if [ -z "${cepd:-}" ]; then
        cepd="$root/.build/release/cepd"
        [ -x "$cepd" ] || cepd="$root/.build/debug/cepd"
    fi
    [ -x "$cepd" ] || { echo "$(basename "$0"): build cepd first (swift build)" >&2; exit 2; }
}
