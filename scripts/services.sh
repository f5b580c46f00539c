#!/usr/bin/env bash
# Make sure PostgreSQL, MariaDB, Redis and NATS (JetStream on) answer on 127.0.0.1, and that
# the build needs (libpq) are there. Uses services already running; installs (apt-get) and
# starts the missing ones. Idempotent; safe to run before every demo and test run.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
APT_UPDATED=""

say() { printf '[services] %s\n' "$*"; }
port_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }
wait_port() {
  local port=$1 name=$2
  for _ in $(seq 1 150); do port_up "$port" && return 0; sleep 0.2; done
  echo "[services] $name did not come up on 127.0.0.1:$port" >&2
  return 1
}
apt_install() {
  if [ -z "$APT_UPDATED" ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  say "installing $*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

# Build dependencies of diesel (libpq) and of the tools the scripts use.
[ -f /usr/include/postgresql/libpq-fe.h ] || apt_install libpq-dev
command -v pkg-config >/dev/null || apt_install pkg-config
command -v curl >/dev/null || apt_install curl

# PostgreSQL
if ! port_up 5432; then
  fresh=""
  if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    apt_install postgresql
    fresh=1
  fi
  ver=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ -n "$fresh" ]; then
    # A fresh Debian cluster asks for passwords over TCP; the local dev setup trusts loopback.
    hba=/etc/postgresql/$ver/main/pg_hba.conf
    $SUDO sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  say "starting PostgreSQL $ver"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  wait_port 5432 PostgreSQL
fi

# Redis
if ! port_up 6379; then
  command -v redis-server >/dev/null || apt_install redis-server
  say "starting Redis"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/bkdata.log
  wait_port 6379 Redis
fi

# NATS with JetStream
if ! port_up 4222; then
  command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || apt_install nats-server
  say "starting NATS (JetStream)"
  $SUDO mkdir -p /var/lib/nats-server
  $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_port 4222 NATS
fi

# MariaDB
if ! port_up 3306; then
  fresh=""
  if [ ! -x /usr/sbin/mariadbd ]; then apt_install mariadb-server; fresh=1; fi
  say "starting MariaDB"
  $SUDO mkdir -p /run/mysqld && $SUDO chown mysql:mysql /run/mysqld 2>/dev/null || true
  $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_port 3306 MariaDB
  if [ -n "$fresh" ]; then
    # Match the documented dev setup: root over TCP without a password.
    for _ in $(seq 1 50); do $SUDO mariadb -uroot -e "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
    $SUDO mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; FLUSH PRIVILEGES;" || true
  fi
fi

say "PostgreSQL :5432, MariaDB :3306, Redis :6379, NATS :4222 are up"
