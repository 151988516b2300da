#!/usr/bin/env bash
# Build every instruction corpus from the real data, plus the RS and medical mixtures.
#
#   examples/corpora/build_all.sh [DATA_ROOT] [OUT]
#
# DATA_ROOT defaults to $VITP_DATA; OUT defaults to runs/corpora. Each corpus lands in
# OUT/<name>/corpus.jsonl (+ build_report.json); the mixtures in OUT/rs_mix.json and
# OUT/med_mix.json. Source images are referenced in place: nothing is written under DATA_ROOT.
set -euo pipefail

DATA="${1:-${VITP_DATA:-}}"
OUT="${2:-runs/corpora}"
if [[ -z "$DATA" || ! -d "$DATA" ]]; then
  echo "usage: $0 DATA_ROOT [OUT]   (or set VITP_DATA)" >&2
  exit 2
fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VITP="${VITP:-vitp}"
export VITP_DATA="$DATA"
mkdir -p "$OUT"

# Remote sensing
"$VITP" corpus build classification rs/rsscn7/labels.jsonl --out "$OUT/rsscn7" --exclude-splits test
"$VITP" corpus build segmentation rs/dubai --class-map "$HERE/dubai_classes.json" \
  --countable building,water,vegetation --out "$OUT/dubai"
"$VITP" corpus build change rs/levir_cd_samples --name levir_cd --subject building --out "$OUT/levir_cd"

# Medical
"$VITP" corpus build volume med/hippocampus --class-map "$HERE/hippocampus_classes.json" \
  --modality MRI --slices-per-plane 1 --out "$OUT/hippocampus"
for set in pneumoniamnist breastmnist adrenalmnist3d; do
  "$VITP" corpus build medmnist "med/medmnist/$set.npz" --splits train,val --out "$OUT/$set"
done
"$VITP" corpus build vqa-rad "med/vqa_rad/VQA_RAD Dataset Public.json" --out "$OUT/vqa_rad"

cp "$HERE/rs_mix.json" "$HERE/med_mix.json" "$OUT/"
echo "mixtures: $OUT/rs_mix.json $OUT/med_mix.json"
