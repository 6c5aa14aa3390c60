#!/usr/bin/env bash
# noether on a real one-node Slurm cluster. (1) The quick suite through `noether suite --slurm`
# gives records, summaries and a claims.json byte-identical to a local quick run. (2) A task
# SIGKILLed mid-run is resubmitted by the finishing job, nothing finished is lost, and the
# claims are again identical. Run by `cargo xtask ci` after the Rust and Python tests; it skips,
# loudly, only where Slurm cannot be installed (not root, or the Debian archive unreachable).
set -euo pipefail
cd "$(dirname "$0")/../.."
NOETHER=${NOETHER:-$PWD/target/release/noether}
# shellcheck source=cluster.sh
source scripts/slurm/cluster.sh
T0=$(date +%s)
say() { printf '[slurm e2e %3ds] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
skip() { echo "******** SKIPPED the Slurm test: $* ********" >&2; exit 0; }

[ "$(id -u)" = 0 ] || skip "not root (installing and starting Slurm needs root)"
rc=0; slurm_install || rc=$?
[ $rc = 3 ] && skip "slurm-wlm and munge cannot be installed here"
[ $rc = 0 ] || exit $rc
[ -x "$NOETHER" ] || { echo "no $NOETHER: build it first (cargo build --release)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/noether-slurm-e2e.XXXXXX)
chmod 755 "$WORK"
trap 'slurm_down; rm -rf "$WORK"' EXIT
slurm_up
say "cluster up"

fail() {
    echo "FAIL: $*" >&2
    for f in "$WORK"/*/slurm/*/logs/* "$STATE_DIR"/log/jobcomp.txt; do
        [ -f "$f" ] && { echo "---- $f" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1
}
# Until nothing of ours is queued (the finishing job submits its retry before it exits, so
# an empty queue means the whole chain is done).
wait_queue() {
    local i
    for i in $(seq "$(( $1 * 10 ))"); do
        [ -z "$(squeue -h -o %i 2>/dev/null)" ] && return 0
        sleep 0.1
    done
    squeue >&2
    fail "jobs still queued after $1 s"
}
same_outputs() {
    local a=$1 b=$2 f n=0
    cmp "$a/claims.json" "$b/claims.json" || fail "claims.json of $b differs from the local run's"
    for f in $(cd "$a" && find . -name summary.json -o -name records.jsonl | sort); do
        cmp -s "$a/$f" "$b/$f" || fail "$f differs"
        n=$((n + 1))
    done
    say "claims.json and $n summaries/records byte-identical to the local run"
}
cached() { find "$1/cache" -name '*.cbor' 2>/dev/null | wc -l; }

"$NOETHER" suite --quick --results "$WORK/local" > "$WORK/local.log" 2>&1 || fail "local quick suite: $(tail -n 2 "$WORK/local.log")"
TOTAL=$(cached "$WORK/local")
say "local quick suite: $TOTAL jobs"

# 1. The quick suite through Slurm: 4 array tasks and the report job.
"$NOETHER" suite --quick --slurm --array-size 4 --results "$WORK/slurm" | tee "$WORK/submit.log"
grep -q 'submitted array' "$WORK/submit.log" || fail "nothing submitted"
wait_queue 600
[ -f "$WORK/slurm/claims.json" ] || fail "the report job wrote no claims.json"
same_outputs "$WORK/local" "$WORK/slurm"
say "1. quick suite via Slurm: OK"

# 2. Kill one task mid-run with SIGKILL (no chance to clean up), let the chain finish.
"$NOETHER" suite --quick --slurm --array-size 2 --results "$WORK/killed" | tee "$WORK/submit2.log"
A=$(grep -o 'submitted array [0-9]*' "$WORK/submit2.log" | awk '{print $3}')
[ -n "$A" ] || fail "no array id"
victim=
for i in $(seq 600); do
    if [ "$(cached "$WORK/killed")" -ge 100 ]; then
        for d in /proc/[0-9]*; do
            [ "$(cat "$d/comm" 2>/dev/null)" = noether ] || continue
            env=$( { tr '\0' '\n' < "$d/environ"; } 2>/dev/null) || continue
            grep -qx "SLURM_ARRAY_JOB_ID=$A" <<<"$env" && grep -qx "SLURM_ARRAY_TASK_ID=0" <<<"$env" && victim=${d#/proc/}
        done
        [ -n "$victim" ] && break
    fi
    sleep 0.1
done
[ -n "$victim" ] || fail "task 0 of array $A never ran long enough to be killed"
kill -KILL "$victim"
AT_KILL=$(cached "$WORK/killed")
say "SIGKILLed task 0 of array $A (pid $victim) with $AT_KILL of $TOTAL jobs cached"
wait_queue 600
[ -f "$WORK/killed/claims.json" ] || fail "no claims.json after the retry"
MANIFESTS=$(find "$WORK/killed/slurm" -name manifest.cbor | wc -l)
[ "$MANIFESTS" -ge 2 ] || fail "the killed task was not resubmitted ($MANIFESTS manifests)"
grep -E "JobState=(FAILED|CANCELLED) .*ArrayJobId=$A ArrayTaskId=0 " "$STATE_DIR/log/jobcomp.txt" >/dev/null \
    || fail "Slurm did not record task 0 of array $A as failed"
[ "$(cached "$WORK/killed")" = "$TOTAL" ] || fail "$(cached "$WORK/killed") of $TOTAL jobs cached"
"$NOETHER" cache verify --results "$WORK/killed" > /dev/null || fail "corrupt cache entries after the kill"
same_outputs "$WORK/local" "$WORK/killed"
say "2. killed task resubmitted ($MANIFESTS submissions), nothing lost: OK"
say "ALL OK"
