#!/bin/sh
# Writes the router's ARI user with the password from the secret (never from the image), then runs Asterisk.
# ASTERISK_ETC and ASTERISK_COMMAND exist for the tests.
set -eu
etc=${ASTERISK_ETC:-/etc/asterisk}
secret=${ARI_PASSWORD_FILE:-/run/secrets/ari_password}
[ -r "$secret" ] || { echo "callrouter-asterisk: no ARI password at $secret" >&2; exit 1; }
umask 077
{
    printf '[general]\nenabled = yes\npretty = no\n\n[%s]\ntype = user\nread_only = no\npassword = ' "${ARI_USER:-router}"
    head -n 1 "$secret" | sed 's/;/\\;/g'   # in .conf files ; starts a comment
} > "$etc/ari.conf"
if [ "$(id -u)" = 0 ] && id asterisk >/dev/null 2>&1; then chown asterisk:asterisk "$etc/ari.conf"; fi
if [ "$(id -u)" = 0 ]; then
    exec ${ASTERISK_COMMAND:-/usr/sbin/asterisk -f -U asterisk -G asterisk}   # started as root: drop to asterisk
fi
exec ${ASTERISK_COMMAND:-/usr/sbin/asterisk -f}
