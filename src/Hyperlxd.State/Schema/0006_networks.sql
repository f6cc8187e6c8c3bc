-- Managed networks and the proxy devices' DNAT rules (kept so that the nftables table can be rendered
-- whole again after a restart, with the rules of instances that are still running).
CREATE TABLE networks (
    name        text PRIMARY KEY,
    type        text  NOT NULL DEFAULT 'bridge',
    description text  NOT NULL DEFAULT '',
    config      jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE network_proxy_nat (
    instance       text    NOT NULL,
    device         text    NOT NULL,
    protocol       text    NOT NULL CHECK (protocol IN ('tcp', 'udp')),
    listen_address text    NOT NULL,
    listen_port    integer NOT NULL,
    target_address text    NOT NULL,
    target_port    integer NOT NULL,
    PRIMARY KEY (instance, device),
    UNIQUE (protocol, listen_address, listen_port)
);
