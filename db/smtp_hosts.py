"""Which SMTP hosts channels may use (CLARION_SMTP_ALLOWED_HOSTS; default: any).

Entries, comma-separated: a host name (`smtp.example.com`), a wildcard for its subdomains
(`*.example.com`), an IP address (`192.0.2.7`, `2001:db8::1`) or a network (`10.0.0.0/8`).
A channel's host is matched as typed, never resolved: a host name matches name entries
only, an IP address matches address and network entries only. So an operator who allows
`10.0.0.0/8` refuses names (fail closed), and DNS cannot turn an allowed name into an
address the operator did not allow by listing it.
"""

import ipaddress
from dataclasses import dataclass

ALLOWED_HOSTS_VAR = "CLARION_SMTP_ALLOWED_HOSTS"

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class HostPolicy:
    # None: any host.
    names: frozenset[str] | None = None
    suffixes: tuple[str, ...] = ()  # ".example.com" for "*.example.com"
    networks: tuple[IpNetwork, ...] = ()

    @classmethod
    def parse(cls, raw: str | None) -> "HostPolicy":
        """ValueError (naming the variable) for an entry that is none of the forms."""
        if raw is None or not raw.strip() or raw.strip() == "*":
            return cls()
        names: set[str] = set()
        suffixes: list[str] = []
        networks: list[IpNetwork] = []
        for entry in (e.strip().lower().rstrip(".") for e in raw.split(",")):
            if not entry:
                continue
            if entry.startswith("*.") and _is_name(entry[2:]):
                suffixes.append(entry[1:])
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if not _is_name(entry):
                raise ValueError(
                    f"{ALLOWED_HOSTS_VAR}: {entry!r} is not a host name, *.domain, IP address "
                    "or network (CIDR)"
                )
            names.add(entry)
        return cls(frozenset(names), tuple(suffixes), tuple(networks))

    @property
    def restricted(self) -> bool:
        return self.names is not None

    def allows(self, host: str) -> bool:
        if self.names is None:
            return True
        host = host.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host in self.names or any(host.endswith(s) for s in self.suffixes)
        return any(address in network for network in self.networks)


ANY_HOST = HostPolicy()


def _is_name(text: str) -> bool:
    labels = text.split(".")
    return bool(text) and all(
        0 < len(label) <= 63 and label.replace("-", "").replace("_", "").isalnum()
        for label in labels
    )


def not_allowed_message(host: str) -> str:
    return f"The SMTP host {host!r} is not allowed on this server (ask its operator)."
