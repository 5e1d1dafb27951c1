#!/bin/sh
# PID 1 of the radio test VM (see radio_build.py). Runs the whole scenario once and powers off:
#   box:    hostapd + dnsmasq with the configs the roles rendered, nginx with the page and the
#           captive portal's server block, on simulated radio wlan0 in the initial namespace;
#   good:   wpa_supplicant with the right passphrase on its own radio in namespace "good",
#           then DHCP, DNS through the leased server, HTTP to the box's name, and the
#           operating systems' connectivity checks as a sign-in sheet makes them;
#   wrong:  wpa_supplicant with a wrong passphrase in namespace "wrong", then DHCP.
# Results are lines "RADIO-TEST: ..." on the console; the host test (test_radio.py) judges them,
# this script only reports what it sees. Logs follow as "RADIO-LOG <name>: ...".
# No `set -e`: a failing step must still reach the log dump and the power-off.

export PATH=/usr/sbin:/usr/bin:/bb
/usr/bin/busybox mkdir -p /bb
/usr/bin/busybox --install -s /bb

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /var/lib/misc /etc/netns/good /etc/netns/wrong

say() {
    echo "RADIO-TEST: $*"
    echo "$(cut -d' ' -f1 /proc/uptime) $*" >>/tmp/timeline.log
}

dump_log() {  # name file
    [ -f "$2" ] && sed "s/^/RADIO-LOG $1: /" "$2"
}

finish() {
    for f in /tmp/*.log; do dump_log "$(basename "$f" .log)" "$f"; done
    dump_log dnsmasq.leases /var/lib/misc/dnsmasq.leases
    say done
    sync
    # With qemu's -no-reboot a reboot ends the VM, no ACPI needed.
    reboot -f
    sleep 10
}

# Whole seconds since boot. Deadlines use the clock, not loop counts: under TCG every grep
# (fork + exec) takes a noticeable, load-dependent time.
now() {
    read -r up _ </proc/uptime
    echo "${up%.*}"
}

# wait_for SECONDS FILE PATTERN: poll a log file for an extended regex until the deadline.
wait_for() {
    deadline=$(($(now) + $1))
    while [ "$(now)" -lt "$deadline" ]; do
        grep -Eq "$3" "$2" 2>/dev/null && return 0
        usleep 300000
    done
    grep -Eq "$3" "$2" 2>/dev/null
}

# dns_query TYPE NAME SERVER: from the good client, print the outcome as one word: the error
# (NXDOMAIN, REFUSED, SERVFAIL, timeout) or "answer" / "empty" (NOERROR without records).
dns_query() {
    out=$(ip netns exec good nslookup -type="$1" "$2" "$3" 2>&1)
    echo "$out" | sed "s/^/[$1 $2] /" >>/tmp/nslookup.log
    case "$out" in
    *"can't find"*) echo "$out" | sed -n "s/.*can't find [^:]*: *//p" | head -n1 | tr ' ' _ ;;
    *"timed out"*) echo timeout ;;
    *Name:*) echo answer ;;
    *) echo empty ;;
    esac
}

# shellcheck disable=SC1091
. /etc/radio/radio.env
say "boot kernel=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)"

# --- radios ---------------------------------------------------------------------------------
modprobe mac80211_hwsim radios=3 >/tmp/modprobe.log 2>&1
for _ in 1 2 3 4 5 6 7 8 9 10; do
    [ -e /sys/class/net/wlan2 ] && break
    usleep 200000
done
say "radios $(ls /sys/class/ieee80211 | tr '\n' ' ')"
phy_of() { cat "/sys/class/net/$1/phy80211/name"; }
for ns in good wrong; do
    ip netns add "$ns"
    : >"/etc/netns/$ns/resolv.conf"
    ip -n "$ns" link set lo up
done
# `ip link set netns` refuses wireless devices: the whole phy moves.
iw phy "$(phy_of wlan1)" set netns name good
iw phy "$(phy_of wlan2)" set netns name wrong

# --- box side -------------------------------------------------------------------------------
ip link set lo up
ip addr add "$RADIO_BOX_ADDRESS/$RADIO_BOX_PREFIX" dev "$RADIO_AP_INTERFACE"
hostapd -B -P /run/hostapd.pid -f /tmp/hostapd.log /etc/radio/hostapd.conf >/tmp/hostapd.out 2>&1
if wait_for 20 /tmp/hostapd.log 'AP-ENABLED'; then
    say "ap enabled"
else
    say "ap failed"
    finish
fi
dnsmasq --conf-file=/etc/radio/dnsmasq.conf --log-facility=/tmp/dnsmasq.log >/tmp/dnsmasq.out 2>&1 \
    && say "dnsmasq started" || say "dnsmasq failed exit=$?"
mkdir -p /tmp/nginx
nginx -c /etc/radio/nginx.conf -e /tmp/nginx-error.log && say "nginx started" \
    || say "nginx failed exit=$?"

# --- client with the right passphrase ------------------------------------------------------
ip netns exec good wpa_supplicant -B -i wlan1 -c /etc/radio/client-good.conf \
    -f /tmp/wpa-good.log >/tmp/wpa-good.out 2>&1
associated=no
if wait_for 30 /tmp/wpa-good.log 'CTRL-EVENT-CONNECTED'; then
    associated=yes
    say "associated ok"
    status=$(ip netns exec good wpa_cli -p /run/wpa_supplicant-good -i wlan1 status)
    say "status wpa $(echo "$status" | grep -E '^(wpa_state|key_mgmt|pairwise_cipher|group_cipher)=' \
        | tr '\n' ' ')"
    say "status ssid=$(echo "$status" | sed -n 's/^ssid=//p')"
else
    say "associated failed"
fi

# The second laptop, with a wrong passphrase, tries to join while the first one works: its
# refusal takes ~10 s of handshake retries, which overlap with the DHCP, DNS and HTTP steps.
ip netns exec wrong wpa_supplicant -B -i wlan2 -c /etc/radio/client-wrong.conf \
    -f /tmp/wpa-wrong.log >/tmp/wpa-wrong.out 2>&1

if [ "$associated" = yes ]; then
    RADIO_CLIENT=good ip netns exec good \
        udhcpc -i wlan1 -f -q -n -t 5 -T 3 -O 114 -s /etc/radio/udhcpc.sh >/tmp/udhcpc-good.log 2>&1 \
        || say "lease good none"
else
    say "lease good skipped (not associated)"
fi

if [ -s /etc/netns/good/resolv.conf ]; then
    answer=$(ip netns exec good getent ahostsv4 "$RADIO_BOX_NAME" | awk 'NR == 1 { print $1 }')
    say "resolve $RADIO_BOX_NAME ${answer:-none}"
    # curl asks for A and AAAA (getaddrinfo AF_UNSPEC), like a laptop's pip would.
    # wget -T crashes in busybox 1.35; curl has its own timeouts.
    http=$(ip netns exec good curl -sS --connect-timeout 10 --max-time 20 -o /tmp/page.html \
        -w '%{http_code} %{remote_ip}' "http://$RADIO_BOX_NAME/" 2>/tmp/curl-good.log)
    say "http $http sha256=$(sha256sum /tmp/page.html 2>/dev/null | cut -d' ' -f1)"
    # Each connectivity check, followed as a sign-in sheet follows it: the final page, how many
    # redirects led there, from which address. The OS's own view (the redirect) is Molecule's.
    while read -r url; do
        probe=$(ip netns exec good curl -sS --connect-timeout 10 --max-time 20 -L --max-redirs 3 \
            -o /tmp/probe.html -w '%{http_code} %{num_redirects} %{url_effective} %{remote_ip}' \
            "$url" 2>>/tmp/curl-probes.log)
        say "probe $url ${probe:-failed} sha256=$(sha256sum /tmp/probe.html 2>/dev/null | cut -d' ' -f1)"
        rm -f /tmp/probe.html
    done </etc/radio/probes.txt
    # The box's domain is answered here for every type (local=): an AAAA query gets an empty
    # answer, not REFUSED. A name outside it, with no uplink, must be answered at once (no
    # forwarding to nowhere): the elapsed time shows a timeout. No route leaves the VM.
    dns=$(sed -n 's/^nameserver //p' /etc/netns/good/resolv.conf | head -n1)
    say "dns-aaaa $RADIO_BOX_NAME $(dns_query AAAA "$RADIO_BOX_NAME" "$dns")"
    start=$(cut -d' ' -f1 /proc/uptime)
    other=$(dns_query A pypi.org "$dns")
    end=$(cut -d' ' -f1 /proc/uptime)
    say "dns-outside pypi.org $other seconds=$(awk "BEGIN { print $end - $start }")"
else
    say "resolve $RADIO_BOX_NAME skipped (no DNS server from the lease)"
fi

# --- client with a wrong passphrase (started above) -----------------------------------------
if wait_for 30 /tmp/wpa-wrong.log 'reason=WRONG_KEY|4-Way Handshake failed|CTRL-EVENT-CONNECTED'; then
    if grep -q 'reason=WRONG_KEY' /tmp/wpa-wrong.log; then
        say "wrong-key refused reason=WRONG_KEY"
    elif grep -q '4-Way Handshake failed' /tmp/wpa-wrong.log; then
        say "wrong-key refused 4-way-handshake-failed"
    else
        say "wrong-key refused no"
    fi
else
    say "wrong-key refused no (no handshake failure within 30 s)"
fi
if grep -q 'CTRL-EVENT-CONNECTED' /tmp/wpa-wrong.log; then
    say "wrong-key connected yes"
else
    say "wrong-key connected no"
fi
RADIO_CLIENT=wrong ip netns exec wrong \
    udhcpc -i wlan2 -f -q -n -t 3 -T 2 -s /etc/radio/udhcpc.sh >/tmp/udhcpc-wrong.log 2>&1 \
    || say "lease wrong none"

# Stations hostapd holds at the end: MAC=flags (the good client [AUTHORIZED], no wrong one).
ctrl=$(sed -n 's/^ctrl_interface=//p' /etc/radio/hostapd.conf)
say "box stations $(hostapd_cli -p "${ctrl:-/run/hostapd}" -i "$RADIO_AP_INTERFACE" all_sta \
    | awk '/^[0-9a-f][0-9a-f]:/ { mac = $1 } /^flags=/ { print mac "=" substr($0, 7) }' | tr '\n' ' ')"
say "wrong-key mac $(ip netns exec wrong cat /sys/class/net/wlan2/address)"
say "good mac $(ip netns exec good cat /sys/class/net/wlan1/address)"
# dnsmasq's lease file: expiry MAC IP hostname client-id
say "box leases $(awk '{ print $3 "=" $2 }' /var/lib/misc/dnsmasq.leases 2>/dev/null | tr '\n' ' ')"
finish
