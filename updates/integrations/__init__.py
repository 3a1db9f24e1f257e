"""Events for other systems, each carried at least once and in order from a position of its own:
the exporter base and the RabbitMQ feed (`exporters`), and signed webhooks (`webhooks`)."""
