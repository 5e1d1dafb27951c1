"""What a box holds and runs, read from its disk: the box_status module and the landing page.

Plain importable Python, one reader per source, each a pure function of text or a directory
so it can be tested without Ansible:

- ``distributions``  project and version of a wheel or sdist file name; a directory's inventory;
- ``hostapd``        the access point's settings from hostapd.conf (never its secrets);
- ``leases``         dnsmasq's DHCP lease file;
- ``systemd``        the state of units from ``systemctl show``;
- ``on_demand``      what nginx fetched on demand and the misses it logged (with ``resolver``,
                     the box-side command of the on-demand cache);
- ``status``         everything above for one box, plus its free disk.
"""
