#!/usr/bin/env bash
# Prints a .cep file (patterns/fraud.cep by default) with a `format` clause added to each of the fraud example's
# streams, so that the shipped patterns read the example's binary encodings unchanged:
#   binary    logins, geo, confirmations: format protobuf "fraud.desc" message ...; payments: format avro "payment.avsc"
#   registry  the same as `format protobuf registry` / `format avro registry` (the Confluent wire format)
#
#   examples/fraud/with-formats.sh binary|registry [FILE.cep] > OUT.cep
set -euo pipefail
mode=${1:?usage: with-formats.sh binary|registry [FILE.cep]}
file=${2:-$(dirname "$0")/../../patterns/fraud.cep}
case $mode in
    binary) proto='format protobuf "fraud.desc" message' avro='format avro "payment.avsc"' ;;
    registry) proto='format protobuf registry message' avro='format avro registry' ;;
    *) echo "with-formats.sh: expected binary or registry, not '$mode'" >&2; exit 2 ;;
esac
out=$(sed -e "s|^stream logins from \"logins\" {|&\n  $proto fraud.v1.Login|" \
    -e "s|^stream geo from \"geo\" {|&\n  $proto fraud.v1.Geo|" \
    -e "s|^stream confirmations from \"confirmations\" {|&\n  $proto fraud.v1.Confirmation|" \
    -e "s|^stream payments from \"payments\" {|&\n  $avro|" "$file")
[ "$(grep -c '^  format ' <<<"$out")" = 4 ] || { echo "with-formats.sh: the four streams were not found in $file" >&2; exit 1; }
printf '%s\n' "$out"
