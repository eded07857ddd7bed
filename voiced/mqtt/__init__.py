"""The broker link, its outbox journal, topics, payloads and the publisher."""
