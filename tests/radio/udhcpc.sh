#!/bin/sh
# udhcpc's event script inside the VM: configure the lease in the client's namespace and report
# it. Runs under `ip netns exec NS`, where /etc/resolv.conf is /etc/netns/NS/resolv.conf.
case "$1" in
bound | renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
    : >/etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
    [ -n "$domain" ] && echo "search $domain" >>/etc/resolv.conf
    # To the console: udhcpc's own output goes to a log file.
    echo "RADIO-TEST: lease $RADIO_CLIENT $ip" >/dev/console
    # udhcpc exports options it has no name for (114, the captive portal) as optNNN, in hex.
    echo "RADIO-TEST: lease-options $RADIO_CLIENT router=$router dns=$dns domain=$domain" \
        "captive=${opt114:-none}" >/dev/console
    ;;
leasefail | nak)
    echo "udhcpc: $1 on $interface" >&2
    ;;
esac
exit 0
