#!/usr/bin/env bash
# Make sure the local servers the test suite talks to are answering; start (or install and
# start) the ones that are not. Idempotent: does nothing when everything already answers.
set -uo pipefail

answers() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

wait_for() {  # name port seconds
  for _ in $(seq 1 "$3"); do answers "$2" && return 0; sleep 1; done
  echo "ensure-services: $1 did not answer on port $2" >&2
  return 1
}

need_package() {  # command package
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "ensure-services: installing $2" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >/dev/null
}

start_postgres() {
  need_package pg_ctlcluster postgresql || return 1
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$version" ] || { echo "ensure-services: no PostgreSQL cluster found" >&2; return 1; }
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
}

start_redis() {
  need_package redis-server redis-server || return 1
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

start_rabbitmq() {
  need_package rabbitmq-server rabbitmq-server || return 1
  rabbitmq-server -detached
}

status=0
answers 5432 || { start_postgres; wait_for PostgreSQL 5432 30; } || status=1
answers 6379 || { start_redis; wait_for Redis 6379 15; } || status=1
answers 5672 || { start_rabbitmq; wait_for RabbitMQ 5672 60; } || status=1
exit $status
