"""The processor service: an OTLP receiver that prices and stores events and serves queries."""
