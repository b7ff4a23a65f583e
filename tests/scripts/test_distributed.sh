#!/bin/bash
# Data-parallel training under `mpirun -np 2` on this machine (loopback, shared memory), against
# one process: the same loss curve, the same accuracy, a mark that extracts, a killed rank that
# ends the job with an error instead of a hang, and --resume after it. Skips (exit 77) when this
# build has no MPI or mpirun is missing. Usage: test_distributed.sh path/to/signet
set -uo pipefail
signet=${1:?usage: test_distributed.sh path/to/signet}
if ! "$signet" --version --json | grep -q '"mpi":true'; then echo "skip: built without MPI"; exit 77; fi
if ! command -v mpirun >/dev/null; then echo "skip: no mpirun (apt-get install openmpi-bin)"; exit 77; fi
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
# Shared memory between the two ranks; no network transport is needed on one machine.
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
tmp=$(mktemp -d)
trap 'pkill -9 -f "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
mpi2() { timeout 300 mpirun -np 2 --oversubscribe "$signet" "$@"; }
json_field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])$1)"; }

data=(--model mnist-mlp --dataset fashion-mnist --train-limit 4000 --test-limit 2000 --seed 3)

# 1. Same loss curve and accuracy as one process with the same global batch.
"$signet" train "${data[@]}" --epochs 2 --threads 1 --out "$tmp/one.safetensors" --json --step-losses --quiet \
  >"$tmp/one.json" 2>"$tmp/one.err" || fail "one process: $(cat "$tmp/one.err")"
mpi2 train "${data[@]}" --epochs 2 --out "$tmp/two.safetensors" --json --step-losses --quiet --distributed \
  >"$tmp/two.json" 2>"$tmp/two.err" || fail "two ranks: $(tail -5 "$tmp/two.err")"
python3 - "$tmp/one.json" "$tmp/two.json" <<'PY' || exit 1
import json, sys
one, two = (json.loads(open(p).read().strip().splitlines()[-1]) for p in sys.argv[1:3])
assert two["ranks"] == 2 and one["ranks"] == 1, (one["ranks"], two["ranks"])
a, b = one["step_loss"], two["step_loss"]
assert len(a) == len(b) == 64, (len(a), len(b))  # 2 epochs of ceil(4000 / 128) steps
worst = max(abs(x - y) / abs(x) for x, y in zip(a[:20], b[:20]))
assert worst < 1e-4, f"first 20 step losses differ by {worst:.2e} (relative)"
gap = abs(one["test_accuracy"] - two["test_accuracy"])
assert gap <= 0.003, f"test accuracy {one['test_accuracy']} (P=1) vs {two['test_accuracy']} (P=2)"
print(f"ok: first 20 step losses within {worst:.1e}, accuracy {one['test_accuracy']:.4f} vs {two['test_accuracy']:.4f}")
PY
# Rank 0 alone wrote the model: no second copy, no temporaries left.
[ "$(ls "$tmp" | grep -c 'two.safetensors')" = 1 ] || fail "expected one two.safetensors, got: $(ls "$tmp")"

# 2. A mark embedded on two ranks is claimed (BER within the key's threshold; fresh CSPRNG keys
#    make an exact BER 0 a chance event, one process included); the keys came from rank 0's CSPRNG.
mpi2 embed --scheme deepsigns-hidden "${data[@]}" --epochs 5 --out "$tmp/marked.safetensors" \
  --keys-out "$tmp/marked.keys" --json --quiet >"$tmp/embed.json" 2>"$tmp/embed.err" \
  || fail "embed on two ranks: $(tail -5 "$tmp/embed.err")"
[ "$(json_field '["key_source"]' <"$tmp/embed.json")" = os-csprng ] || fail "keys not from the CSPRNG"
[ "$(stat -c %a "$tmp/marked.keys")" = 600 ] || fail "keys file is not mode 0600"
"$signet" extract --keys "$tmp/marked.keys" --weights "$tmp/marked.safetensors" --json >"$tmp/extract.json" 2>/dev/null \
  || fail "extract: $(cat "$tmp/extract.json")"
ber=$(json_field '["ber"]' <"$tmp/extract.json")
threshold=$(json_field '["threshold"]' <"$tmp/extract.json")
python3 -c "import sys; sys.exit(0 if $ber <= $threshold else 1)" \
  || fail "the mark made on two ranks extracts with BER $ber, above the claim threshold $threshold"
echo "ok: two-rank mark extracts with BER $ber (threshold $threshold)"

# 3. A rank killed mid-run ends the job with an error (no hang); --resume continues.
mpi2 train "${data[@]}" --epochs 60 --out "$tmp/long.safetensors" --checkpoint "$tmp/long.ckpt" --quiet \
  >"$tmp/long.out" 2>&1 &
job=$!
for _ in $(seq 600); do [ -f "$tmp/long.ckpt" ] && break; sleep 0.1; done
[ -f "$tmp/long.ckpt" ] || fail "no checkpoint after 60 s: $(tail -5 "$tmp/long.out")"
victim=""
for p in $(pgrep -f "$tmp/long.ckpt"); do
  tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' && victim=$p
done
[ -n "$victim" ] || fail "could not find rank 1"
kill -9 "$victim"
start=$SECONDS
wait "$job"
status=$?
[ "$status" != 0 ] || fail "the job exited 0 after rank 1 was killed"
(( SECONDS - start < 60 )) || fail "the job took $((SECONDS - start)) s to end after rank 1 died"
grep -qiE 'exited on signal|killed|abort' "$tmp/long.out" || fail "no message about the dead rank: $(tail -5 "$tmp/long.out")"
[ ! -f "$tmp/long.safetensors" ] || fail "a model was written by a failed run"
mpi2 train "${data[@]}" --epochs 60 --out "$tmp/long.safetensors" --checkpoint "$tmp/long.ckpt" --resume "$tmp/long.ckpt" \
  --json --quiet >"$tmp/resumed.json" 2>"$tmp/resumed.err" || fail "resume on two ranks: $(tail -5 "$tmp/resumed.err")"
python3 - "$tmp/resumed.json" <<'PY' || exit 1
import json, sys
j = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
run = len(j["epoch_loss"])
assert 1 <= run < 60 and j["test_accuracy"] > 0.6, j
print(f"ok: killed rank ended the job; resumed for the last {run} of 60 epochs, to {j['test_accuracy']:.4f}")
PY

# 4. --distributed outside a launcher, and --sync-bn alone, are errors that say what to do.
out=$("$signet" train "${data[@]}" --epochs 1 --out "$tmp/x.safetensors" --distributed 2>&1)
[ $? = 1 ] && grep -q 'mpirun -np' <<<"$out" || fail "--distributed without mpirun: $out"
out=$("$signet" train "${data[@]}" --epochs 1 --out "$tmp/x.safetensors" --sync-bn 2>&1)
[ $? = 1 ] && grep -q 'distributed' <<<"$out" || fail "--sync-bn alone: $out"
# 5. Commands that do not train together refuse to run P times over.
out=$(mpi2 info "$tmp/two.safetensors" 2>&1)
[ $? != 0 ] && grep -q 'does not run data-parallel' <<<"$out" || fail "info under mpirun: $out"
echo "ok: distributed training"
