"""The public status page's domain: component states from health checks and incidents, public incident
updates, planned maintenance and 90-day uptime from recorded checks. Pure rules in ``rules``; the store
in ``store``; the periodic recorder in ``recorder``; HTTP probes of monitored components in ``probes``."""
