#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the tests marked `slurm` and for trying
# `fe run NAME --executor slurm` without a cluster (Debian/Ubuntu, run as root).
#
#   scripts/slurm_local.sh start    install slurm-wlm + munge if missing, write slurm.conf
#                                   for this host, start munged, slurmctld, slurmd and wait
#                                   until sinfo shows the node idle
#   scripts/slurm_local.sh stop     cancel its jobs and stop the daemons it started
#   scripts/slurm_local.sh status   sinfo, squeue and where the job-completion log is
#
# There is no accounting database, so `sacct` knows nothing; finished jobs are listed in
# the job-completion log (JobCompType=jobcomp/filetxt), $FE_SLURM_JOBCOMP. A SLURM that is
# already up (a real cluster, or another `start`) is left as it is. `stop` leaves the
# daemons running while another process that called `start` (e.g. a concurrent CI run)
# is still alive.
set -euo pipefail

STATE=/var/lib/fe-slurm                 # slurmctld state, slurmd spool, who holds it
RUN=/run/fe-slurm                       # pid files
LOGS=/var/log/fe-slurm
CONF=/etc/slurm/slurm.conf
JOBCOMP=${FE_SLURM_JOBCOMP:-$LOGS/jobcomp.log}
HOLDERS=$STATE/holders
MARK="# written by finite-expressivity scripts/slurm_local.sh"

say() { echo "slurm_local: $*" >&2; }
die() { say "$*"; exit 1; }

node_state() { sinfo -h -N -o %t 2>/dev/null | head -n1; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
    && command -v sbatch >/dev/null && command -v munged >/dev/null; then
    return
  fi
  [ "$(id -u)" = 0 ] || die "installing slurm-wlm and munge needs root (apt-get)"
  say "installing slurm-wlm and munge (apt-get)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

write_conf() {
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc --all)
  # RealMemory a little under what slurmd measures, so the node never drains as "Low RealMemory"
  mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  mem=$((mem * 95 / 100))
  if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    die "$CONF exists and was not written by this script; move it away or use that SLURM"
  fi
  mkdir -p "$(dirname "$CONF")" "$STATE/ctld" "$STATE/d" "$RUN" "$LOGS"
  cat >"$CONF" <<EOF
$MARK: one node, $cpus CPUs, ${mem} MB
ClusterName=fe-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# a requeued job may start again after cred_expire seconds (default 120)
AuthInfo=cred_expire=10
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=2,sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$JOBCOMP
# seconds between SIGTERM and SIGKILL (scancel, scontrol requeue, time limits)
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
  [ -f /etc/munge/munge.key ] || { mungekey --create && chown munge:munge /etc/munge/munge.key; }
  runuser -u munge -- /usr/sbin/munged
  touch "$RUN/munged.ours"
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return; sleep 0.1; done
  die "munged did not start (see /var/log/munge/munged.log)"
}

wait_idle() {
  local s
  for _ in $(seq 120); do
    s=$(node_state)
    case $s in
      idle|mix|alloc) return 0 ;;
      down*|drain*|drng*) scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true ;;
    esac
    sleep 0.5
  done
  die "the node is not idle after 60 s (sinfo says '${s:-nothing}'; see $LOGS/slurmctld.log, $LOGS/slurmd.log)"
}

hold() { mkdir -p "$STATE"; echo "$PPID" >>"$HOLDERS"; }

start() {
  if sinfo -h >/dev/null 2>&1 && [ -n "$(node_state)" ]; then
    hold
    wait_idle
    say "SLURM already running: $(sinfo -h -o '%P %D node(s) %t' | head -n1)"
    return
  fi
  [ "$(id -u)" = 0 ] || die "starting SLURM daemons needs root"
  install_packages
  write_conf
  start_munge
  slurmctld
  slurmd
  touch "$RUN/slurm.ours"
  hold
  wait_idle
  say "SLURM up: $(sinfo -h -o '%P %D node(s) %t %c CPUs %m MB' | head -n1); job-completion log $JOBCOMP"
}

others_alive() {  # a live process other than our caller that called start
  [ -f "$HOLDERS" ] || return 1
  local live="" pid
  while read -r pid; do
    [ "$pid" = "$PPID" ] && continue
    if kill -0 "$pid" 2>/dev/null; then live="$live $pid"; fi
  done <"$HOLDERS"
  printf '%s\n' $live >"$HOLDERS"
  [ -n "$live" ]
}

wait_gone() {  # wait for the process in pid file $1 to exit
  local pid
  [ -f "$1" ] || return 0
  pid=$(cat "$1")
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  say "process $pid ($1) still running"
}

stop() {
  if others_alive; then
    say "SLURM left running: another process that started it is still alive ($(tr '\n' ' ' <"$HOLDERS"))"
    return
  fi
  rm -f "$HOLDERS"
  if [ -f "$RUN/slurm.ours" ]; then
    local jobs
    jobs=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')
    if [ -n "${jobs// /}" ]; then
      say "cancelling jobs $jobs"
      # shellcheck disable=SC2086
      scancel $jobs || true
      for _ in $(seq 100); do [ -z "$(squeue -h -t R,CG 2>/dev/null)" ] && break; sleep 0.1; done
    fi
    scontrol shutdown >/dev/null 2>&1 || true
    wait_gone "$RUN/slurmctld.pid"
    wait_gone "$RUN/slurmd.pid"
    rm -f "$RUN/slurm.ours"
    say "SLURM stopped"
  else
    say "no SLURM started by this script is running"
  fi
  if [ -f "$RUN/munged.ours" ]; then
    munged --stop >/dev/null 2>&1 || true
    rm -f "$RUN/munged.ours"
  fi
}

status() {
  sinfo || true
  squeue || true
  echo "job-completion log: $(scontrol show config 2>/dev/null | sed -n 's/^JobCompLoc *= *//p')"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
