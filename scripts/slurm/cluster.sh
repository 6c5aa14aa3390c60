#!/usr/bin/env bash
# A private one-node Slurm cluster (Debian's slurm-wlm + munge; no systemd, no cgroups) for
# noether's Slurm test, after the recipe of the shared spec (slurm.md). Sourced by e2e.sh:
#   slurm_install   apt-get install slurm-wlm munge if missing (returns 3 where apt is unreachable)
#   slurm_up        start munged, slurmctld, slurmd under $STATE_DIR; export SLURM_CONF
#   slurm_down      cancel jobs, stop the daemons by pid file, kill orphaned job processes
# Knobs: STATE_DIR (default /tmp/noether-slurm), SLURMCTLD_PORT (6817), SLURMD_PORT (6818).
# Only awk, /proc and bash's /dev/tcp are used (no ps, pgrep or ss in a minimal image).

STATE_DIR=${STATE_DIR:-/tmp/noether-slurm}
CTLD_PORT=${SLURMCTLD_PORT:-6817}
SLURMD_PORT=${SLURMD_PORT:-6818}
export PATH=/usr/sbin:/sbin:$PATH

slog() { printf '[slurm] %s\n' "$*" >&2; }

# Running and not a zombie (daemons are re-parented to PID 1, which may reap late).
alive() { local s; s=$(awk '{print $3}' /proc/"$1"/stat 2>/dev/null) || return 1; [ -n "$s" ] && [ "$s" != Z ]; }

slurm_install() {
    if dpkg -s slurm-wlm munge >/dev/null 2>&1; then return 0; fi
    [ "$(id -u)" = 0 ] || { slog "not root: cannot apt-get install slurm-wlm munge"; return 3; }
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get update -qq </dev/null >/dev/null 2>&1; then
        slog "apt-get update failed: the Debian archive is unreachable"
        return 3
    fi
    apt-get install -y -qq --no-install-recommends slurm-wlm munge </dev/null >/dev/null
}

# SIGTERM the pid in FILE if it is alive and really is NAME; echo it.
term_pidfile() {
    local name=$1 file=$2 pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file" 2>/dev/null || true)
    rm -f "$file"
    [ -n "$pid" ] && alive "$pid" && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$name" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    echo "$pid"
}

reap() {
    local pid= i
    for i in $(seq 150); do
        for pid in "$@"; do alive "$pid" && break; pid=; done
        [ -z "$pid" ] && return 0
        sleep 0.1
    done
    for pid in "$@"; do alive "$pid" && kill -KILL "$pid" 2>/dev/null; done
    return 0
}

slurm_down() {
    local pid ids i d env c p1 p2 p3
    pid=$(cat "$STATE_DIR/run/slurmctld.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && alive "$pid"; then
        ids=$(SLURM_CONF=$STATE_DIR/slurm.conf squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ' || true)
        if [ -n "${ids// /}" ]; then
            # shellcheck disable=SC2086
            SLURM_CONF=$STATE_DIR/slurm.conf scancel $ids 2>/dev/null || true
            for i in $(seq 150); do
                [ -z "$(SLURM_CONF=$STATE_DIR/slurm.conf squeue -h -o %A 2>/dev/null || true)" ] && break
                sleep 0.1
            done
        fi
    fi
    p1=$(term_pidfile slurmd "$STATE_DIR/run/slurmd.pid")
    p2=$(term_pidfile slurmctld "$STATE_DIR/run/slurmctld.pid")
    # shellcheck disable=SC2086
    reap $p1 $p2
    p3=$(term_pidfile munged "$STATE_DIR/munge/run/munged.pid")
    # shellcheck disable=SC2086
    reap $p3
    # Killing slurmd does not kill running jobs: SIGKILL what still carries this cluster's conf.
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [ "$pid" = $$ ] && continue
        env=$( { tr '\0' '\n' < "$d/environ"; } 2>/dev/null) || continue
        grep -qxF "SLURM_CONF=$STATE_DIR/slurm.conf" <<<"$env" || continue
        c=$(cat "$d/comm" 2>/dev/null || true)
        if [ "$c" = slurmstepd ] || grep -q '^SLURM_JOB_ID=' <<<"$env"; then
            alive "$pid" && kill -KILL "$pid" 2>/dev/null
        fi
    done
    return 0
}

slurm_up() {
    local port hw i state f
    slurm_down
    for port in "$CTLD_PORT" "$SLURMD_PORT"; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            slog "port $port is already in use (set SLURMCTLD_PORT / SLURMD_PORT)"
            return 1
        fi
    done
    rm -rf "$STATE_DIR"
    mkdir -p "$STATE_DIR"/{run,log,ctld,spool} "$STATE_DIR"/munge/{etc,run}
    chmod 0755 "$STATE_DIR" "$STATE_DIR/munge" "$STATE_DIR/munge/run"
    chmod 0700 "$STATE_DIR/munge/etc"
    local sock=$STATE_DIR/munge/run/munge.socket
    mungekey --create --keyfile="$STATE_DIR/munge/etc/munge.key"
    chown -R munge:munge "$STATE_DIR/munge"
    runuser -u munge -- munged --socket="$sock" --key-file="$STATE_DIR/munge/etc/munge.key" \
        --pid-file="$STATE_DIR/munge/run/munged.pid" --log-file="$STATE_DIR/munge/etc/munged.log" \
        --seed-file="$STATE_DIR/munge/etc/munged.seed" </dev/null
    munge -n -S "$sock" | unmunge -S "$sock" >/dev/null || { slog "munge round trip failed"; return 1; }
    hw=$(slurmd -C | head -n1 | sed 's/^NodeName=[^ ]* //')
    export SLURM_CONF=$STATE_DIR/slurm.conf
    cat > "$SLURM_CONF" <<CONF
ClusterName=noether-ci
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE_DIR/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
SlurmctldPidFile=$STATE_DIR/run/slurmctld.pid
SlurmdPidFile=$STATE_DIR/run/slurmd.pid
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd.log
NodeName=localhost NodeHostname=localhost NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    slurmctld </dev/null || { slog "slurmctld failed to start"; return 1; }
    slurmd -N localhost </dev/null || { slog "slurmd failed to start"; return 1; }
    for i in $(seq 300); do
        for f in slurmctld slurmd; do   # they daemonize before binding: catch a fatal early
            if [ -f "$STATE_DIR/run/$f.pid" ] && ! alive "$(cat "$STATE_DIR/run/$f.pid")"; then
                slog "$f died: $(grep -E 'fatal|error' "$STATE_DIR/log/$f.log" | tail -n1)"
                return 1
            fi
        done
        state=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
        [ "$state" = idle ] && { slog "cluster up (node idle)"; return 0; }
        sleep 0.1
    done
    slog "the node never became idle (state '$state')"
    return 1
}
