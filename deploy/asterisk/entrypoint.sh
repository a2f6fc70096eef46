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

# What the site has not mounted, said in the log before Asterisk starts (README, "Deploying").
say() { echo "callrouter-asterisk: $*" >&2; }
if grep -q "^; callrouter-asterisk: the image's placeholder, no SIP" "$etc/pjsip.conf" 2>/dev/null; then
    say "no site pjsip.conf is mounted at $etc/pjsip.conf: Asterisk starts with no SIP transport and no" \
        "endpoint, so no phone or trunk can register or call; mount your own (README, \"Deploying\")"
fi
if ! grep -q "^#include extensions_callrouter.conf" "$etc/extensions.conf" 2>/dev/null; then
    say "$etc/extensions.conf is not the image's and does not #include extensions_callrouter.conf: every" \
        "call sent to callrouter-entry will fail; mount your inbound context as $etc/extensions_site.conf" \
        "instead, and leave extensions.conf to the image"
elif [ ! -e "$etc/extensions_site.conf" ]; then
    say "no $etc/extensions_site.conf is mounted: no inbound context sends 1818 to callrouter-entry"
fi
if [ "$(id -u)" = 0 ]; then
    exec ${ASTERISK_COMMAND:-/usr/sbin/asterisk -f -U asterisk -G asterisk}   # started as root: drop to asterisk
fi
exec ${ASTERISK_COMMAND:-/usr/sbin/asterisk -f}
