#!/bin/bash
# Starts RabbitMQ in the foreground as the rabbitmq user, logging to stdout.
set -euo pipefail

if [ "${1:-}" != rabbitmq-server ]; then exec "$@"; fi

# Read first, so that a conf.d file mounted by the caller (a later name) overrides it, as with the official image.
if [ -n "${RABBITMQ_DEFAULT_USER:-}" ] || [ -n "${RABBITMQ_DEFAULT_PASS:-}" ]; then
  {
    [ -z "${RABBITMQ_DEFAULT_USER:-}" ] || echo "default_user = $RABBITMQ_DEFAULT_USER"
    [ -z "${RABBITMQ_DEFAULT_PASS:-}" ] || echo "default_pass = $RABBITMQ_DEFAULT_PASS"
  } > /etc/rabbitmq/conf.d/00-environment.conf
fi
# Guests may connect from outside the container: the tests reach it through a port published on 127.0.0.1.
[ -e /etc/rabbitmq/conf.d/01-loopback.conf ] || echo "loopback_users.guest = false" > /etc/rabbitmq/conf.d/01-loopback.conf
# The cluster's shared secret, where the nodes of a cluster are given one.
if [ -n "${RABBITMQ_ERLANG_COOKIE:-}" ]; then
  printf '%s' "$RABBITMQ_ERLANG_COOKIE" > /var/lib/rabbitmq/.erlang.cookie
  chmod 400 /var/lib/rabbitmq/.erlang.cookie
  unset RABBITMQ_ERLANG_COOKIE
fi
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq

# Debian's wrapper would send the log to a file; the server's own script keeps it on stdout.
exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmq-server
